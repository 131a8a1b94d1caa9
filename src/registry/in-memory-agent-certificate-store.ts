import type { AgentCertificateId, TenantId } from '../shared/index.ts';
import type { AgentCertificateRecord, NewAgentCertificateRecord } from './agent-certificate.ts';
import type { AgentCertificateStore, RevokedSerial } from './ports.ts';
import { duplicateAgentCertificate } from './store-errors.ts';

// Reference AgentCertificateStore for unit tests; the contract suite holds the Kysely adapter to the same.
export class InMemoryAgentCertificateStore implements AgentCertificateStore {
  readonly #records = new Map<AgentCertificateId, AgentCertificateRecord>();

  async insert(record: NewAgentCertificateRecord): Promise<AgentCertificateRecord> {
    // Check and insert without an await in between: atomic, like the database's unique constraint.
    if (this.#activeByName(record.tenant, record.name)) throw duplicateAgentCertificate(record.name);
    const stored: AgentCertificateRecord = { ...record, isRevoked: false, revokedAt: undefined };
    this.#records.set(record.id, stored);
    return stored;
  }

  async list(tenant: TenantId): Promise<AgentCertificateRecord[]> {
    return [...this.#records.values()].filter((r) => r.tenant === tenant)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  }

  async find(tenant: TenantId, id: AgentCertificateId): Promise<AgentCertificateRecord | undefined> {
    const record = this.#records.get(id);
    return record?.tenant === tenant ? record : undefined;
  }

  async findActiveByName(tenant: TenantId, name: string): Promise<AgentCertificateRecord | undefined> {
    return this.#activeByName(tenant, name);
  }

  #activeByName(tenant: TenantId, name: string): AgentCertificateRecord | undefined {
    return [...this.#records.values()].find((r) => r.tenant === tenant && r.name === name && !r.isRevoked);
  }

  async revoke(tenant: TenantId, id: AgentCertificateId, at: Date): Promise<AgentCertificateRecord | undefined> {
    const record = this.#records.get(id);
    if (record?.tenant !== tenant) return undefined;
    if (record.isRevoked) return record;
    const revoked: AgentCertificateRecord = { ...record, isRevoked: true, revokedAt: at };
    this.#records.set(id, revoked);
    return revoked;
  }

  async listRevokedSerials(now: Date): Promise<RevokedSerial[]> {
    return [...this.#records.values()].filter((r) => r.isRevoked && r.notAfter >= now)
      .map((r) => ({ caCertificateId: r.managedCaId, serialNumber: r.serialNumber }));
  }
}
