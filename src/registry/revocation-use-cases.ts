import { isCrlSignedBy, parseCrlPem, parseSerialNumberText, REVOCATION_REASONS, subjectNameDer } from '../pki/index.ts';
import { DomainError, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { CaCertificateRecord } from './ca-certificate.ts';
import { caCertificateNotFound } from './find-ca-certificate.ts';
import type { RegistryDependencies } from './ports.ts';
import type { CrlRecord, RevocationRecord } from './revocation.ts';
import { auditEntryOf, systemContext, type AuditContext } from './audit-context.ts';

// Issue 15 parts 1 and 2 (docs/decisions/0022-revocation-by-serial.md): revocation by issuer +
// serial number of certificates a tenant's uploaded CA issued, made one by one through the API or
// imported as the CA's CRL. Every change is one `caRevocationsChanged` event: each node reads the
// CA's serials back into its trust index and closes the sessions they now revoke.

type Dependencies = Pick<RegistryDependencies, 'caCertificates' | 'revocations' | 'events' | 'clock' | 'settings' | 'audit'>;

export interface RevocationView {
  readonly serialNumber: string;
  readonly reason: string;
  readonly revokedAt: Date;
}

export interface CrlView {
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly crlNumber: string | undefined;
  readonly entryCount: number;
  readonly importedAt: Date;
  /** Past nextUpdate: still enforced, but the CA should publish a newer one. */
  readonly stale: boolean;
}

const POSTABLE_REASONS: readonly string[] = REVOCATION_REASONS.filter((reason) => reason !== 'removeFromCRL');

const toView = ({ serialNumber, reason, revokedAt }: RevocationRecord): RevocationView => ({ serialNumber, reason, revokedAt });

// Another tenant's CA id is indistinguishable from a missing one (404), as everywhere.
const uploadedCa = async ({ caCertificates }: Pick<Dependencies, 'caCertificates'>, tenant: TenantId, id: CaCertificateId): Promise<CaCertificateRecord> => {
  const record = await caCertificates.find(tenant, id);
  if (!record) throw caCertificateNotFound(id);
  return record;
};

const serialOf = (text: string): string => {
  const serial = parseSerialNumberText(text);
  if (serial === undefined) {
    throw new DomainError('revocation.serialNumberInvalid', `"${text.slice(0, 80)}" is not a serial number. Send it as OpenSSL prints it (openssl x509 -noout -serial): hex, with or without colons, at most 20 octets.`);
  }
  return serial;
};

/** A certificate of an uploaded CA is named by its issuer and serial number (RFC 5280 §5.3). */
const certificateTarget = (caCertificateId: CaCertificateId, serialNumber: string): string => `certificate:${caCertificateId}/${serialNumber}`;

const changed = (events: Dependencies['events'], tenant: TenantId, caCertificateId: CaCertificateId) =>
  events.publish({ type: 'caRevocationsChanged', tenant, caCertificateId });

/** POST /caCertificates/{id}/revokedCertificates. A serial already revoked (through the API) is a
 *  409 revocation.duplicate: the first revocation's reason and time stay (decision 0022). */
export const revokeSerial = async (
  dependencies: Dependencies,
  input: { tenant: TenantId; caCertificateId: CaCertificateId; serialNumber: string; reason?: string | undefined },
  context: AuditContext = systemContext,
): Promise<RevocationView> => {
  const { tenant, caCertificateId } = input;
  await uploadedCa(dependencies, tenant, caCertificateId);
  const serialNumber = serialOf(input.serialNumber);
  const reason = input.reason ?? 'unspecified';
  if (!POSTABLE_REASONS.includes(reason)) {
    throw new DomainError('revocation.reasonInvalid', `"${reason.slice(0, 64)}" is not an RFC 5280 revocation reason. Use one of: ${POSTABLE_REASONS.join(', ')}.`);
  }
  const record: RevocationRecord = { tenant, caCertificateId, serialNumber, reason, revokedAt: dependencies.clock.now() };
  const entry = auditEntryOf(context, { time: record.revokedAt, tenant, action: 'certificate.revoked', target: certificateTarget(caCertificateId, serialNumber), reason });
  if (!await dependencies.revocations.insert(record, entry)) {
    const existing = await dependencies.revocations.find(tenant, caCertificateId, serialNumber);
    throw new DomainError('revocation.duplicate', `Serial number ${serialNumber} of CA ${caCertificateId} is already revoked${existing ? ` (${existing.reason}, ${existing.revokedAt.toISOString()})` : ''}.`);
  }
  dependencies.audit.logWritten(entry);
  await changed(dependencies.events, tenant, caCertificateId);
  return toView(record);
};

/** GET /caCertificates/{id}/revokedCertificates: the API-made revocations (CRL entries: GET …/crl). */
export const listRevocations = async (dependencies: Dependencies, tenant: TenantId, caCertificateId: CaCertificateId): Promise<RevocationView[]> => {
  await uploadedCa(dependencies, tenant, caCertificateId);
  return (await dependencies.revocations.list(tenant, caCertificateId)).map(toView);
};

/** DELETE /caCertificates/{id}/revokedCertificates/{serialNumber}: releases a certificateHold.
 *  Any other reason is final (RFC 5280 §5.3.1): 409 revocation.notOnHold. */
export const releaseHold = async (
  dependencies: Dependencies, tenant: TenantId, caCertificateId: CaCertificateId, serialText: string, context: AuditContext = systemContext,
): Promise<void> => {
  await uploadedCa(dependencies, tenant, caCertificateId);
  const serialNumber = serialOf(serialText);
  const existing = await dependencies.revocations.find(tenant, caCertificateId, serialNumber);
  if (!existing) {
    throw new DomainError('revocation.notFound', `Serial number ${serialNumber} is not revoked through the API under CA ${caCertificateId}. List them with GET /caCertificates/${caCertificateId}/revokedCertificates.`);
  }
  const entry = auditEntryOf(context, {
    time: dependencies.clock.now(), tenant, action: 'certificate.revocationLifted', target: certificateTarget(caCertificateId, serialNumber), reason: 'certificateHold',
  });
  if (existing.reason !== 'certificateHold' || !await dependencies.revocations.remove(tenant, caCertificateId, serialNumber, 'certificateHold', entry)) {
    throw new DomainError('revocation.notOnHold', `Serial number ${serialNumber} is revoked for ${existing.reason}, which is final; only a certificateHold can be released.`);
  }
  dependencies.audit.logWritten(entry);
  await changed(dependencies.events, tenant, caCertificateId);
};

/** PUT /caCertificates/{id}/crl: the CA's CRL replaces its previous one (entries included),
 *  atomically; API-made revocations stay. */
export const importCrl = async (
  dependencies: Dependencies, input: { tenant: TenantId; caCertificateId: CaCertificateId; crlPem: string }, context: AuditContext = systemContext,
): Promise<CrlView> => {
  const { tenant, caCertificateId } = input;
  const ca = await uploadedCa(dependencies, tenant, caCertificateId);
  const crl = parseCrlPem(input.crlPem);
  if (!crl.issuerDer.equals(subjectNameDer(ca.certificatePem))) {
    throw new DomainError('crl.issuerMismatch', `The CRL's issuer is not the subject of CA ${caCertificateId}. Import it under the CA that issued it.`);
  }
  if (!isCrlSignedBy(crl, ca.certificatePem)) {
    throw new DomainError('crl.signatureInvalid', `The CRL's signature does not verify with the key of CA ${caCertificateId}: another key signed it, or it was altered.`);
  }
  const now = dependencies.clock.now();
  if (crl.thisUpdate.getTime() > now.getTime() + dependencies.settings.clockSkewMs) {
    throw new DomainError('crl.notYetValid', `The CRL's thisUpdate (${crl.thisUpdate.toISOString()}) is in the future. Check the CA machine's clock.`);
  }
  // removeFromCRL belongs to delta CRLs (RFC 5280 §5.3.1): such an entry revokes nothing.
  const entries = [...new Map(crl.entries.filter((entry) => entry.reason !== 'removeFromCRL').map((entry) => [entry.serialNumber, entry])).values()]
    .map(({ serialNumber, reason, revokedAt }) => ({ serialNumber, reason, revokedAt }));
  const record: CrlRecord = {
    tenant, caCertificateId, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, crlNumber: crl.crlNumber, entryCount: entries.length, importedAt: now,
  };
  // The reason names the CRL imported (its number, else its thisUpdate) and how many serials it revokes.
  const entry = auditEntryOf(context, {
    time: now, tenant, action: 'crl.imported', target: `caCertificate:${caCertificateId}`,
    reason: `${crl.crlNumber === undefined ? `thisUpdate ${crl.thisUpdate.toISOString()}` : `crlNumber ${crl.crlNumber}`}, ${entries.length} entries`,
  });
  await dependencies.revocations.replaceCrl(record, entries, entry);
  dependencies.audit.logWritten(entry);
  await changed(dependencies.events, tenant, caCertificateId);
  return crlView(record, now);
};

const crlView = ({ thisUpdate, nextUpdate, crlNumber, entryCount, importedAt }: CrlRecord, now: Date): CrlView => ({
  thisUpdate, nextUpdate, crlNumber, entryCount, importedAt, stale: nextUpdate !== undefined && nextUpdate.getTime() < now.getTime(),
});

/** GET /caCertificates/{id}/crl. */
export const findCrl = async (dependencies: Dependencies, tenant: TenantId, caCertificateId: CaCertificateId): Promise<CrlView> => {
  await uploadedCa(dependencies, tenant, caCertificateId);
  const crl = await dependencies.revocations.findCrl(tenant, caCertificateId);
  if (!crl) throw new DomainError('crl.notFound', `CA ${caCertificateId} has no imported CRL. Import one with PUT /caCertificates/${caCertificateId}/crl.`);
  return crlView(crl, dependencies.clock.now());
};
