import { caCertificateRules, lintCertificate, parseCertificatePem } from '../pki/index.ts';
import { DomainError, newResourceId, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { CaCertificateRecord } from './ca-certificate.ts';
import type { RegistryDependencies } from './ports.ts';
import { checkDisplayName } from './display-name.ts';
import { newRegistrationCode } from './registration-code.ts';
import { keyOfManagedCa } from './store-errors.ts';
import { auditEntryOf, systemContext, type AuditContext } from './audit-context.ts';

export interface RegisterCaCertificateInput {
  readonly tenant: TenantId;
  readonly name: string;
  readonly description?: string | undefined;
  readonly caCertificatePem: string;
}

// POST /caCertificates: parse once, apply every CA rule, store unverified with a fresh code.
export const registerCaCertificate = async (
  { caCertificates, managedCas, clock, events, settings, audit }: RegistryDependencies,
  input: RegisterCaCertificateInput,
  context: AuditContext = systemContext,
): Promise<CaCertificateRecord> => {
  const name = checkDisplayName('name', input.name);
  const certificate = parseCertificatePem(input.caCertificatePem, 'caCertificate');
  const now = clock.now();
  const report = lintCertificate(certificate, caCertificateRules, { now, clockSkewMs: settings.clockSkewMs });
  const [first] = report.findings;
  if (first) throw new DomainError(first.code, first.message, { details: report.findings });
  // A managed CA's certificate is in every GET /agentCertificates answer; its key is trustgate's.
  // Uploaded by any tenant (its own included) it could only be verified by tricking an admin into
  // issuing an agent certificate named after the registration code (issue 10, finding 3).
  if (await managedCas.findByPublicKey(certificate.publicKeySha256)) throw keyOfManagedCa();

  const id = newResourceId() as CaCertificateId;
  const entry = auditEntryOf(context, { time: now, tenant: input.tenant, action: 'caCertificate.uploaded', target: `caCertificate:${id}` });
  const record = await caCertificates.insert({
    id,
    tenant: input.tenant,
    name,
    description: input.description,
    certificatePem: certificate.pem,
    subject: certificate.subject,
    commonName: certificate.subjectCommonNames.at(-1),
    fingerprintSha256: certificate.fingerprintSha256,
    tbsCertificateSha256: certificate.tbsCertificateSha256,
    publicKeySha256: certificate.publicKeySha256,
    subjectKeyId: certificate.subjectKeyId,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    registrationCode: newRegistrationCode(),
    createdAt: now,
  }, settings.maxCaCertificatesPerTenant, entry);
  audit.logWritten(entry);
  await events.publish({ type: 'caCertificateRegistered', tenant: record.tenant, caCertificateId: record.id }, { kind: 'caCertificate', record, certificate });
  return record;
};
