import type { AgentCertificateId, TenantId } from '../shared/index.ts';
import type { AgentCertificateRecord, NewAgentCertificateRecord } from './agent-certificate.ts';
import type { AgentCertificateStore, RevokedSerial } from './ports.ts';
import { duplicateAgentCertificate } from './store-errors.ts';

// Reference AgentCertificateStore for unit tests; the contract suite holds the Kysely adapter to the same.
export class InMemoryAgentCertificateStore implements AgentCertificateStore {
  readonly #records = new Map<AgentCertificateId, AgentCertificateRecord>();
  /** Certificates replaced by a renewal: valid, but no longer the name's active one. */
  readonly #retired = new Set<AgentCertificateId>();
  /** `<tenant>/<clientId>` -> last renewal. */
  readonly #renewals = new Map<string, Date>();

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

  async lastRenewalAt(tenant: TenantId, clientId: string): Promise<Date | undefined> {
    return this.#renewals.get(`${tenant}/${clientId}`);
  }

  async insertRenewal(record: NewAgentCertificateRecord, notRenewedSince: Date): Promise<{ renewed: AgentCertificateRecord } | { lastRenewalAt: Date }> {
    // No await between the check and the writes: atomic, like the store's conditional upsert.
    const key = `${record.tenant}/${record.clientId}`;
    const last = this.#renewals.get(key);
    if (last !== undefined && last > notRenewedSince) return { lastRenewalAt: last };
    this.#renewals.set(key, record.createdAt);
    // Retired, not revoked: the in-memory store tells the active one by its latest creation.
    for (const [id, other] of this.#records) if (other.tenant === record.tenant && other.name === record.name && !other.isRevoked) this.#retired.add(id);
    const stored: AgentCertificateRecord = { ...record, isRevoked: false, revokedAt: undefined };
    this.#records.set(record.id, stored);
    return { renewed: stored };
  }

  #activeByName(tenant: TenantId, name: string): AgentCertificateRecord | undefined {
    return [...this.#records.values()].find((r) => r.tenant === tenant && r.name === name && !r.isRevoked && !this.#retired.has(r.id));
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
