import { normalizeSerialHex, parseCertificatePem, type Certificate } from '../pki/index.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import type { ManagedCaCertificate } from './agent-certificate.ts';
import type { CaCertificateRecord } from './ca-certificate.ts';
import { CertificateCheckMemo } from './certificate-check-memo.ts';

export interface IndexedCaCertificate {
  readonly id: CaCertificateId;
  readonly tenant: TenantId;
  readonly isVerified: boolean;
  /** The tenant's managed CA (POST /agentCertificates) rather than an uploaded one. */
  readonly isManaged: boolean;
  readonly certificate: Certificate;
}

/** `conflictingTenants`: the signing key is trusted by all of them, so it decides for none. */
export interface IssuerLookup {
  readonly issuer?: IndexedCaCertificate;
  readonly conflictingTenants?: readonly TenantId[];
}

// Every tenant's CA certificates in memory, keyed by subject DN, so finding an agent
// certificate's issuer costs the same with 2 or 20,000 CAs and needs no database query. Same-named
// CAs of different tenants share a bucket; the signature check tells them apart. It also holds
// the serial numbers of revoked agent certificates per issuing CA, for the same reason.
//
// Two rules keep the answer independent of list order (docs/decisions/0013-certificate-identity.md):
// - a key trusted (verified or managed) by two tenants is a conflict: certificates it signed are
//   refused, never given to whichever tenant comes first (one tenant per CA key);
// - a revocation is "issuer key + serial number" (RFC 5280 §5.3): revoked under one CA record, a
//   serial is revoked under every record of the same tenant holding the same key.
export class TrustIndex {
  readonly #bySubject = new Map<string, IndexedCaCertificate[]>();
  readonly #byId = new Map<string, IndexedCaCertificate>();
  /** Entries by the SHA-256 of their SubjectPublicKeyInfo. */
  readonly #byKey = new Map<string, IndexedCaCertificate[]>();
  /** CA id -> normalised serial numbers (lowercase hex, no leading zeros) revoked under it. */
  readonly #revokedSerials = new Map<string, Set<string>>();
  #revokedCount = 0;
  /** Signature and key-strength checks of agent certificates already passed (certificate-check-memo.ts). */
  readonly certificateChecks = new CertificateCheckMemo();

  get size(): number {
    return this.#byId.size;
  }

  /** An uploaded CA certificate: trusted once verified. `certificate`: its PEM as already parsed. */
  upsert(record: Pick<CaCertificateRecord, 'id' | 'tenant' | 'isVerified' | 'certificatePem'>, certificate?: Certificate): void {
    this.#put({ id: record.id, tenant: record.tenant, isVerified: record.isVerified, isManaged: false,
      certificate: certificate ?? parseCertificatePem(record.certificatePem, 'stored caCertificate') });
  }

  /** The tenant's managed CA: trusted from birth, no proof of possession needed (trustgate made its key). */
  upsertManagedCa(ca: Pick<ManagedCaCertificate, 'id' | 'tenant' | 'certificatePem'>, certificate?: Certificate): void {
    this.#put({ id: ca.id, tenant: ca.tenant, isVerified: true, isManaged: true,
      certificate: certificate ?? parseCertificatePem(ca.certificatePem, 'stored managed CA') });
  }

  /** The certificate of CA `id` as this index parsed it, if it holds that id with exactly this
   *  PEM: a reload reuses it rather than parse every CA again (decision 0018). */
  parsedCertificate(id: string, certificatePem: string): Certificate | undefined {
    const certificate = this.#byId.get(id)?.certificate;
    return certificate?.pem === certificatePem ? certificate : undefined;
  }

  #put(entry: IndexedCaCertificate): void {
    this.#removeEntry(entry.id);
    this.#byId.set(entry.id, entry);
    addTo(this.#bySubject, entry.certificate.subject, entry);
    addTo(this.#byKey, entry.certificate.publicKeySha256, entry);
  }

  /** A CA deleted (or no longer found): also forgets every remembered certificate check. */
  remove(id: string): IndexedCaCertificate | undefined {
    const entry = this.#removeEntry(id);
    if (entry) this.certificateChecks.clear();
    return entry;
  }

  #removeEntry(id: string): IndexedCaCertificate | undefined {
    const entry = this.#byId.get(id);
    if (!entry) return undefined;
    this.#byId.delete(id);
    removeFrom(this.#bySubject, entry.certificate.subject, id);
    removeFrom(this.#byKey, entry.certificate.publicKeySha256, id);
    return entry;
  }

  /** The registered CA whose key signed `certificate`, verified ones first; `tenant` narrows the
   *  search. Undefined also when that key is trusted by two tenants (see lookupIssuer). */
  findIssuer(certificate: Certificate, tenant?: TenantId): IndexedCaCertificate | undefined {
    return this.lookupIssuer(certificate, tenant).issuer;
  }

  /** findIssuer, telling "no issuer" from "a key two tenants trust", with one signature check. */
  lookupIssuer(certificate: Certificate, tenant?: TenantId): IssuerLookup {
    const candidates = this.#candidates(certificate, tenant);
    const signer = candidates.find((entry) => this.certificateChecks.isSignedBy(certificate, entry.certificate, () => signedBy(certificate, entry)));
    if (!signer) return {};
    // Every candidate with the signer's key signed it too; decide among them by rule, not by order.
    const key = signer.certificate.publicKeySha256;
    const trusted = candidates.filter((entry) => entry.isVerified && entry.certificate.publicKeySha256 === key);
    if (trusted.length === 0) return { issuer: signer };
    const tenants = this.#trustingTenants(key);
    if (tenants.size > 1) return { conflictingTenants: [...tenants].sort() };
    // One tenant: its managed CA first, then the lowest id, so every node answers the same.
    return { issuer: trusted.sort((a, b) => Number(b.isManaged) - Number(a.isManaged) || a.id.localeCompare(b.id))[0] };
  }

  /** Every key trusted by more than one tenant, with the CA ids involved: logged at start, since
   *  only data written before this rule existed (or edited by hand) can hold one. */
  keyConflicts(): { readonly publicKeySha256: string; readonly caCertificates: readonly { id: string; tenant: TenantId; isManaged: boolean }[] }[] {
    return [...this.#byKey].flatMap(([publicKeySha256, entries]) => {
      const trusted = entries.filter((entry) => entry.isVerified);
      return new Set(trusted.map((entry) => entry.tenant)).size > 1
        ? [{ publicKeySha256, caCertificates: trusted.map(({ id, tenant, isManaged }) => ({ id, tenant, isManaged })) }]
        : [];
    });
  }

  #candidates(certificate: Certificate, tenant: TenantId | undefined): IndexedCaCertificate[] {
    return (this.#bySubject.get(certificate.issuer) ?? [])
      .filter((entry) => tenant === undefined || entry.tenant === tenant)
      // RFC 5280 §4.2.1.1: when both carry key identifiers they must match; skip the signature check otherwise.
      .filter((entry) => !certificate.authorityKeyId || !entry.certificate.subjectKeyId || certificate.authorityKeyId === entry.certificate.subjectKeyId)
      .sort((a, b) => Number(b.isVerified) - Number(a.isVerified));
  }

  #trustingTenants(publicKeySha256: string): Set<TenantId> {
    return new Set((this.#byKey.get(publicKeySha256) ?? []).filter((entry) => entry.isVerified).map((entry) => entry.tenant));
  }

  /** Whether the index holds `id` at all, trusted or not (registered, verified or managed). */
  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** Whether `id` is a CA this index trusts now (registered and verified, or managed). */
  isTrusted(id: string): boolean {
    return this.#byId.get(id)?.isVerified === true;
  }

  /** Takes over `fresh`'s content in one synchronous step, so no admission sees a half-loaded
   *  index: after a cluster node missed events, it reloads into a new index and adopts it. */
  adopt(fresh: TrustIndex): void {
    this.certificateChecks.clear();
    this.#bySubject.clear();
    this.#byId.clear();
    this.#byKey.clear();
    this.#revokedSerials.clear();
    for (const [subject, bucket] of fresh.#bySubject) this.#bySubject.set(subject, [...bucket]);
    for (const [id, entry] of fresh.#byId) this.#byId.set(id, entry);
    for (const [key, entries] of fresh.#byKey) this.#byKey.set(key, [...entries]);
    for (const [id, serials] of fresh.#revokedSerials) this.#revokedSerials.set(id, new Set(serials));
    this.#revokedCount = fresh.#revokedCount;
  }

  /** Revocation is final: the serial number issued by this CA is never taken back. By issuer +
   *  serial (RFC 5280 §5.3, what a CRL lists), never by a hash of the certificate's bytes: an
   *  ECDSA signature (r, s) is as valid as (r, n - s), so the same certificate has two encodings. */
  revoke(caCertificateId: string, serialNumber: string): void {
    const serial = normalizeSerialHex(serialNumber);
    let serials = this.#revokedSerials.get(caCertificateId);
    if (!serials) this.#revokedSerials.set(caCertificateId, serials = new Set());
    if (serials.has(serial)) return;
    serials.add(serial);
    this.#revokedCount += 1;
  }

  /** The revoked serials of an uploaded CA (API-made and its CRL's entries), replaced whole: a
   *  certificateHold released or a CRL replaced removes serials, which revoke() never does. One
   *  synchronous step, so an admission sees the old set or the new one. */
  replaceRevokedSerials(caCertificateId: string, serialNumbers: Iterable<string>): void {
    const serials = new Set<string>();
    for (const serialNumber of serialNumbers) serials.add(normalizeSerialHex(serialNumber));
    this.#revokedCount += serials.size - (this.#revokedSerials.get(caCertificateId)?.size ?? 0);
    if (serials.size > 0) this.#revokedSerials.set(caCertificateId, serials);
    else this.#revokedSerials.delete(caCertificateId);
  }

  /** Whether `serialNumber` is revoked under CA `caCertificateId` or another CA record of the same
   *  tenant with the same key (the key is the issuer: it signed the certificate either way). */
  isRevoked(caCertificateId: string, serialNumber: string): boolean {
    if (this.#revokedSerials.size === 0) return false;
    const serial = normalizeSerialHex(serialNumber);
    const issuer = this.#byId.get(caCertificateId);
    const issuers = issuer
      ? (this.#byKey.get(issuer.certificate.publicKeySha256) ?? []).filter((entry) => entry.tenant === issuer.tenant).map((entry) => entry.id)
      : [caCertificateId];
    return issuers.some((id) => this.#revokedSerials.get(id)?.has(serial) === true);
  }

  get revokedCount(): number {
    return this.#revokedCount;
  }
}

const signedBy = (certificate: Certificate, entry: IndexedCaCertificate): boolean => {
  try {
    return certificate.x509.verify(entry.certificate.publicKey);
  } catch {
    return false;
  }
};

const addTo = (map: Map<string, IndexedCaCertificate[]>, key: string, entry: IndexedCaCertificate): void => {
  const list = map.get(key);
  if (list) list.push(entry);
  else map.set(key, [entry]);
};

const removeFrom = (map: Map<string, IndexedCaCertificate[]>, key: string, id: string): void => {
  const rest = map.get(key)?.filter((entry) => entry.id !== id) ?? [];
  if (rest.length > 0) map.set(key, rest);
  else map.delete(key);
};
