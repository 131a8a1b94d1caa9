import { caCertificateProfile, issueCertificate, parseCertificatePem } from '../pki/index.ts';
import { newResourceId, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { ManagedCaRecord } from './agent-certificate.ts';
import { MANAGED_CA_KEY_TYPE, MANAGED_CA_VALIDITY_DAYS, managedCaSubject } from './managed-ca-profile.ts';
import type { RegistryDependencies } from './ports.ts';

// The tenant's managed CA, created on first use: EC P-256, self-signed, 10 years, stored per
// tenant apart from the uploaded CA certificates (it takes no slot). Trusted by the broker as soon
// as it exists: the event is applied before this resolves.
export const ensureManagedCa = async (
  { managedCas, events, clock }: Pick<RegistryDependencies, 'managedCas' | 'events' | 'clock'>,
  tenant: TenantId,
): Promise<ManagedCaRecord> => {
  const existing = await managedCas.findForSigning(tenant);
  if (existing) return existing;
  const now = clock.now();
  const issued = await issueCertificate(caCertificateProfile, { subject: managedCaSubject(tenant), key: MANAGED_CA_KEY_TYPE, validityDays: MANAGED_CA_VALIDITY_DAYS, now });
  const certificate = parseCertificatePem(issued.certificatePem, 'managed CA');
  const id = newResourceId() as CaCertificateId;
  const stored = await managedCas.insertIfAbsent({
    id,
    tenant,
    certificatePem: certificate.pem,
    privateKeyPem: issued.privateKeyPem,
    subject: certificate.subject,
    fingerprintSha256: certificate.fingerprintSha256,
    publicKeySha256: certificate.publicKeySha256,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    createdAt: now,
  });
  // A concurrent first use may have won: its CA is the tenant's, and its event is applied too
  // (publishing again is harmless: the index upsert is idempotent). The certificate goes with the
  // event, never the private key.
  const { privateKeyPem: _privateKeyPem, ...certificateOnly } = stored;
  const storedCertificate = stored.id === id ? certificate : parseCertificatePem(stored.certificatePem, 'stored managed CA');
  await events.publish({ type: 'managedCaCreated', tenant, caCertificateId: stored.id }, { kind: 'managedCa', record: certificateOnly, certificate: storedCertificate });
  return stored;
};
