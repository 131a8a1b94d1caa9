import { caCertificateRules, checkProofOfPossession, firstProblem, parseCertificatePem } from '../pki/index.ts';
import { DomainError, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { CaCertificateRecord } from './ca-certificate.ts';
import type { RegistryDependencies } from './ports.ts';
import { caCertificateNotFound, findCaCertificate } from './find-ca-certificate.ts';
import { keyOfManagedCa } from './store-errors.ts';

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
): Promise<CaCertificateRecord> => {
  const { caCertificates, managedCas, clock, events, settings } = dependencies;
  const record = await findCaCertificate(dependencies, tenant, id);
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

  const verified = await caCertificates.markVerified(tenant, id, context.now);
  if (!verified) throw caCertificateNotFound(id);
  await events.publish({ type: 'caCertificateVerified', tenant, caCertificateId: id }, { kind: 'caCertificate', record: verified, certificate: caCertificate });
  return verified;
};
