import { caCertificateRules, checkProofOfPossession, firstProblem, parseCertificatePem } from '../pki/index.ts';
import { DomainError, isDomainError, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { AuditEntry } from './audit-trail.ts';
import type { CaCertificateRecord } from './ca-certificate.ts';
import type { RegistryDependencies } from './ports.ts';
import { caCertificateNotFound, findCaCertificate } from './find-ca-certificate.ts';
import { keyOfManagedCa } from './store-errors.ts';
import { auditEntryOf, systemContext, type AuditContext } from './audit-context.ts';

export interface VerifyCaCertificateInput {
  readonly tenant: TenantId;
  readonly id: CaCertificateId;
  readonly verificationCertificatePem: string;
}

// POST /caCertificates/{id}/verify: proof of possession, then trust. Repeating a valid proof for
// an already verified CA answers the same resource again (idempotent).
export const verifyCaCertificate = async (
  dependencies: RegistryDependencies,
  { tenant, id, verificationCertificatePem }: VerifyCaCertificateInput,
  context: AuditContext = systemContext,
): Promise<CaCertificateRecord> => {
  const { clock, audit } = dependencies;
  const record = await findCaCertificate(dependencies, tenant, id);
  const entry = (outcome: 'success' | 'failure', reason?: string) => auditEntryOf(context, {
    time: clock.now(), tenant, action: outcome === 'success' ? 'caCertificate.verified' : 'caCertificate.verificationFailed', target: `caCertificate:${id}`, outcome, reason,
  });
  try {
    return await verify(dependencies, record, verificationCertificatePem, entry);
  } catch (error) {
    // A refused proof changes nothing: its entry stands alone. A 404 above is no attempt on a CA
    // of this tenant, and an outage is no decision.
    if (isDomainError(error) && error.code !== 'storage.unavailable') await audit.record(entry('failure', error.code));
    throw error;
  }
};

const verify = async (
  { caCertificates, managedCas, clock, events, settings, audit }: RegistryDependencies,
  record: CaCertificateRecord,
  verificationCertificatePem: string,
  entry: (outcome: 'success') => AuditEntry,
): Promise<CaCertificateRecord> => {
  const { tenant, id } = record;
  // Uploads of a managed CA's key are refused; one stored before that rule is not verified either.
  if (await managedCas.findByPublicKey(record.publicKeySha256)) throw keyOfManagedCa();
  const verificationCertificate = parseCertificatePem(verificationCertificatePem, 'verificationCertificate');
  const caCertificate = parseCertificatePem(record.certificatePem, 'stored caCertificate');
  const context = { now: clock.now(), clockSkewMs: settings.clockSkewMs };
  // The CA rules again: a CA that expired since its upload, or one stored by an earlier version
  // that today's rules refuse (e.g. critical nameConstraints), cannot become trusted.
  const failure = firstProblem(caCertificateRules, caCertificate, context) ?? checkProofOfPossession(
    { caCertificate, verificationCertificate, registrationCode: record.registrationCode },
    context,
  );
  if (failure) throw new DomainError(failure.code, failure.message);
  if (record.isVerified) return record;

  const verified = entry('success');
  const stored = await caCertificates.markVerified(tenant, id, context.now, verified);
  if (!stored) throw caCertificateNotFound(id);
  audit.logWritten(verified);
  await events.publish({ type: 'caCertificateVerified', tenant, caCertificateId: id }, { kind: 'caCertificate', record: stored, certificate: caCertificate });
  return stored;
};
