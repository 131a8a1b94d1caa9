import type { TenantId } from '../shared/index.ts';
import type { ManagedCaCertificate, ManagedCaRecord } from './agent-certificate.ts';
import type { ManagedCaStore } from './ports.ts';

const certificateOf = ({ privateKeyPem: _privateKeyPem, ...certificate }: ManagedCaRecord): ManagedCaCertificate => certificate;

// Reference ManagedCaStore for unit tests; the contract suite holds the Kysely adapter to the same.
export class InMemoryManagedCaStore implements ManagedCaStore {
  readonly #byTenant = new Map<string, ManagedCaRecord>();

  async find(tenant: TenantId): Promise<ManagedCaCertificate | undefined> {
    const record = this.#byTenant.get(tenant);
    return record && certificateOf(record);
  }

  async findForSigning(tenant: TenantId): Promise<ManagedCaRecord | undefined> {
    return this.#byTenant.get(tenant);
  }

  async insertIfAbsent(record: ManagedCaRecord): Promise<ManagedCaRecord> {
    const existing = this.#byTenant.get(record.tenant);
    if (existing) return existing;
    this.#byTenant.set(record.tenant, record);
    return record;
  }

  async findByPublicKey(publicKeySha256: string): Promise<ManagedCaCertificate | undefined> {
    const record = [...this.#byTenant.values()].find((r) => r.publicKeySha256 === publicKeySha256);
    return record && certificateOf(record);
  }

  async listAll(): Promise<ManagedCaCertificate[]> {
    return [...this.#byTenant.values()].map(certificateOf);
  }
}
