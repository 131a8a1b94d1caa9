import { type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { CaCertificateRecord, NewCaCertificateRecord } from './ca-certificate.ts';
import type { CaCertificateStore } from './ports.ts';
import { duplicateCaCertificate, caCertificateLimitReached, keyVerifiedByOtherTenant } from './store-errors.ts';

// The reference implementation of CaCertificateStore for unit tests; the contract suite holds
// it and the Kysely adapters to the same behaviour.
export class InMemoryCaCertificateStore implements CaCertificateStore {
  readonly #records = new Map<string, CaCertificateRecord>();
  readonly #keyClaims = new Map<string, TenantId>();

  async insert(record: NewCaCertificateRecord, maxPerTenant: number): Promise<CaCertificateRecord> {
    const own = [...this.#records.values()].filter((r) => r.tenant === record.tenant);
    if (own.some((r) => r.tbsCertificateSha256 === record.tbsCertificateSha256)) throw duplicateCaCertificate();
    if (own.length >= maxPerTenant) throw caCertificateLimitReached(maxPerTenant);
    const stored: CaCertificateRecord = { ...record, isVerified: false, verifiedAt: undefined };
    this.#records.set(record.id, stored);
    return stored;
  }

  async list(tenant: TenantId): Promise<CaCertificateRecord[]> {
    return [...this.#records.values()].filter((r) => r.tenant === tenant)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  }

  async listAll(): Promise<CaCertificateRecord[]> {
    return [...this.#records.values()];
  }

  async find(tenant: TenantId, id: CaCertificateId): Promise<CaCertificateRecord | undefined> {
    const record = this.#records.get(id);
    return record?.tenant === tenant ? record : undefined;
  }

  async remove(tenant: TenantId, id: CaCertificateId): Promise<CaCertificateRecord | undefined> {
    const record = await this.find(tenant, id);
    if (!record) return undefined;
    this.#records.delete(id);
    const stillVerified = [...this.#records.values()].some((r) =>
      r.tenant === tenant && r.isVerified && r.publicKeySha256 === record.publicKeySha256);
    if (!stillVerified && this.#keyClaims.get(record.publicKeySha256) === tenant) this.#keyClaims.delete(record.publicKeySha256);
    return record;
  }

  async markVerified(tenant: TenantId, id: CaCertificateId, verifiedAt: Date): Promise<CaCertificateRecord | undefined> {
    const record = await this.find(tenant, id);
    if (!record) return undefined;
    if (record.isVerified) return record;
    const claimant = this.#keyClaims.get(record.publicKeySha256);
    if (claimant !== undefined && claimant !== tenant) throw keyVerifiedByOtherTenant();
    this.#keyClaims.set(record.publicKeySha256, tenant);
    const verified: CaCertificateRecord = { ...record, isVerified: true, verifiedAt };
    this.#records.set(id, verified);
    return verified;
  }
}
