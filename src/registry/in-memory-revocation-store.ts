import { DomainError, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { RevocationStore, RevokedSerial } from './ports.ts';
import { isNotOlderCrl, type CrlRecord, type RevocationRecord } from './revocation.ts';

type Entry = Pick<RevocationRecord, 'serialNumber' | 'reason' | 'revokedAt'>;

export const crlReplayed = (stored: CrlRecord): DomainError =>
  new DomainError('crl.replayed', `This CRL is older than the one already imported for this CA (stored: CRL number ${stored.crlNumber ?? 'none'}, thisUpdate ${stored.thisUpdate.toISOString()}). Import the newest CRL (openssl ca -gencrl).`);

/** For tests and the in-process registry fixture. */
export class InMemoryRevocationStore implements RevocationStore {
  readonly #api = new Map<string, RevocationRecord>();
  readonly #crls = new Map<string, { crl: CrlRecord; entries: readonly Entry[] }>();

  async insert(record: RevocationRecord): Promise<boolean> {
    const key = `${record.caCertificateId}/${record.serialNumber}`;
    if (this.#api.has(key)) return false;
    this.#api.set(key, record);
    return true;
  }

  async list(tenant: TenantId, caCertificateId: CaCertificateId): Promise<RevocationRecord[]> {
    return [...this.#api.values()].filter((r) => r.tenant === tenant && r.caCertificateId === caCertificateId);
  }

  async find(tenant: TenantId, caCertificateId: CaCertificateId, serialNumber: string): Promise<RevocationRecord | undefined> {
    const record = this.#api.get(`${caCertificateId}/${serialNumber}`);
    return record?.tenant === tenant ? record : undefined;
  }

  async remove(tenant: TenantId, caCertificateId: CaCertificateId, serialNumber: string, reason: string): Promise<boolean> {
    const record = await this.find(tenant, caCertificateId, serialNumber);
    if (record?.reason !== reason) return false;
    return this.#api.delete(`${caCertificateId}/${serialNumber}`);
  }

  async listSerials(caCertificateId: CaCertificateId): Promise<string[]> {
    const fromApi = [...this.#api.values()].filter((r) => r.caCertificateId === caCertificateId).map((r) => r.serialNumber);
    return [...fromApi, ...(this.#crls.get(caCertificateId)?.entries ?? []).map((e) => e.serialNumber)];
  }

  async listAllSerials(): Promise<RevokedSerial[]> {
    return [
      ...[...this.#api.values()].map(({ caCertificateId, serialNumber }) => ({ caCertificateId, serialNumber })),
      ...[...this.#crls.values()].flatMap(({ crl, entries }) => entries.map(({ serialNumber }) => ({ caCertificateId: crl.caCertificateId, serialNumber }))),
    ];
  }

  async replaceCrl(crl: CrlRecord, entries: readonly Entry[]): Promise<void> {
    const stored = this.#crls.get(crl.caCertificateId)?.crl;
    if (!isNotOlderCrl(crl, stored)) throw crlReplayed(stored!);
    this.#crls.set(crl.caCertificateId, { crl, entries: [...entries] });
  }

  async findCrl(tenant: TenantId, caCertificateId: CaCertificateId): Promise<CrlRecord | undefined> {
    const crl = this.#crls.get(caCertificateId)?.crl;
    return crl?.tenant === tenant ? crl : undefined;
  }
}
