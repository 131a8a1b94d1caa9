import { parseCertificatePem, type Certificate } from '../pki/index.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import type { ManagedCaCertificate } from './agent-certificate.ts';
import type { CaCertificateRecord } from './ca-certificate.ts';

export interface IndexedCaCertificate {
  readonly id: CaCertificateId;
  readonly tenant: TenantId;
  readonly isVerified: boolean;
  /** The tenant's managed CA (POST /agentCertificates) rather than an uploaded one. */
  readonly isManaged: boolean;
  readonly certificate: Certificate;
}

// Every tenant's CA certificates in memory, keyed by subject DN, so finding an agent
// certificate's issuer costs the same with 2 or 20,000 CAs and needs no database query. Same-named
// CAs of different tenants share a bucket; the signature check tells them apart. It also holds
// the fingerprints of revoked agent certificates, for the same reason.
export class TrustIndex {
  readonly #bySubject = new Map<string, IndexedCaCertificate[]>();
  readonly #byId = new Map<string, IndexedCaCertificate>();
  readonly #revokedFingerprints = new Set<string>();

  get size(): number {
    return this.#byId.size;
  }

  /** An uploaded CA certificate: trusted once verified. */
  upsert(record: Pick<CaCertificateRecord, 'id' | 'tenant' | 'isVerified' | 'certificatePem'>): void {
    this.#put({ id: record.id, tenant: record.tenant, isVerified: record.isVerified, isManaged: false,
      certificate: parseCertificatePem(record.certificatePem, 'stored caCertificate') });
  }

  /** The tenant's managed CA: trusted from birth, no proof of possession needed (trustgate made its key). */
  upsertManagedCa(ca: Pick<ManagedCaCertificate, 'id' | 'tenant' | 'certificatePem'>): void {
    this.#put({ id: ca.id, tenant: ca.tenant, isVerified: true, isManaged: true,
      certificate: parseCertificatePem(ca.certificatePem, 'stored managed CA') });
  }

  #put(entry: IndexedCaCertificate): void {
    this.remove(entry.id);
    this.#byId.set(entry.id, entry);
    const bucket = this.#bySubject.get(entry.certificate.subject);
    if (bucket) bucket.push(entry);
    else this.#bySubject.set(entry.certificate.subject, [entry]);
  }

  remove(id: string): IndexedCaCertificate | undefined {
    const entry = this.#byId.get(id);
    if (!entry) return undefined;
    this.#byId.delete(id);
    const bucket = this.#bySubject.get(entry.certificate.subject)?.filter((e) => e.id !== id) ?? [];
    if (bucket.length > 0) this.#bySubject.set(entry.certificate.subject, bucket);
    else this.#bySubject.delete(entry.certificate.subject);
    return entry;
  }

  /** The registered CA whose key signed `certificate`, verified ones first; `tenant` narrows the search. */
  findIssuer(certificate: Certificate, tenant?: TenantId): IndexedCaCertificate | undefined {
    const candidates = (this.#bySubject.get(certificate.issuer) ?? [])
      .filter((entry) => tenant === undefined || entry.tenant === tenant)
      // RFC 5280 §4.2.1.1: when both carry key identifiers they must match; skip the signature check otherwise.
      .filter((entry) => !certificate.authorityKeyId || !entry.certificate.subjectKeyId || certificate.authorityKeyId === entry.certificate.subjectKeyId)
      .sort((a, b) => Number(b.isVerified) - Number(a.isVerified));
    return candidates.find((entry) => {
      try {
        return certificate.x509.verify(entry.certificate.publicKey);
      } catch {
        return false;
      }
    });
  }

  /** Whether `id` is a CA this index trusts now (registered and verified, or managed). */
  isTrusted(id: string): boolean {
    return this.#byId.get(id)?.isVerified === true;
  }

  /** Takes over `fresh`'s content in one synchronous step, so no admission sees a half-loaded
   *  index: after a cluster node missed events, it reloads into a new index and adopts it. */
  adopt(fresh: TrustIndex): void {
    this.#bySubject.clear();
    this.#byId.clear();
    this.#revokedFingerprints.clear();
    for (const [subject, bucket] of fresh.#bySubject) this.#bySubject.set(subject, [...bucket]);
    for (const [id, entry] of fresh.#byId) this.#byId.set(id, entry);
    for (const fingerprint of fresh.#revokedFingerprints) this.#revokedFingerprints.add(fingerprint);
  }

  /** Revocation is final: a fingerprint (SHA-256 of the DER certificate) is never taken back. */
  revoke(fingerprintSha256: string): void {
    this.#revokedFingerprints.add(fingerprintSha256);
  }

  isRevoked(fingerprintSha256: string): boolean {
    return this.#revokedFingerprints.has(fingerprintSha256);
  }

  get revokedCount(): number {
    return this.#revokedFingerprints.size;
  }
}
