import { agentCertificateProfile, issueCertificate, parseCertificatePem, readCsr } from '../pki/index.ts';
import { newResourceId, type AgentCertificateId, type TenantId } from '../shared/index.ts';
import type { AgentCertificateView } from './agent-certificate-view.ts';
import { checkAgentCertificateName } from './agent-certificate-name.ts';
import { checkDisplayName } from './display-name.ts';
import { ensureManagedCa } from './ensure-managed-ca.ts';
import { AGENT_CERTIFICATE_KEY_TYPE, AGENT_CERTIFICATE_VALIDITY_DAYS } from './managed-ca-profile.ts';
import type { RegistryDependencies } from './ports.ts';
import { auditEntryOf, systemContext, type AuditContext } from './audit-context.ts';
import { duplicateAgentCertificate } from './store-errors.ts';

export interface CreateAgentCertificateInput {
  readonly tenant: TenantId;
  readonly name: string;
  readonly owner?: string | undefined;
  /** A device's PKCS#10 request: its key is certified, and no key is generated or returned. */
  readonly csrPem?: string | undefined;
}

export interface CreatedAgentCertificate extends AgentCertificateView {
  /** PKCS#8 PEM of the generated key, returned this once and never stored; undefined with a CSR. */
  readonly privateKeyPem: string | undefined;
}

// POST /agentCertificates (MindConnect's auto-generated agent certificate). Every input check runs
// before anything is created, so a refused request changes nothing (not even the managed CA).
export const createAgentCertificate = async (
  dependencies: RegistryDependencies,
  { tenant, name, owner: sentOwner, csrPem }: CreateAgentCertificateInput,
  context: AuditContext = systemContext,
): Promise<CreatedAgentCertificate> => {
  const { agentCertificates, agents, clock, audit } = dependencies;
  checkAgentCertificateName(name);
  const owner = sentOwner === undefined ? undefined : checkDisplayName('owner', sentOwner);
  const csr = csrPem === undefined ? undefined : await readCsr(csrPem);
  // Saves a key generation for the common mistake; the store's constraint decides under races.
  if (await agentCertificates.findActiveByName(tenant, name)) throw duplicateAgentCertificate(name);

  const ca = await ensureManagedCa(dependencies, tenant);
  const now = clock.now();
  // The CN is the name; a CSR's own subject is ignored (the CA decides what it certifies).
  const issued = await issueCertificate(agentCertificateProfile, {
    subject: { CN: name },
    key: csr ?? AGENT_CERTIFICATE_KEY_TYPE,
    issuer: { certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem },
    validityDays: AGENT_CERTIFICATE_VALIDITY_DAYS,
    now,
  });
  const certificate = parseCertificatePem(issued.certificatePem, 'issued agent certificate');
  const clientId = `${tenant}_${name}`;
  const id = newResourceId() as AgentCertificateId;
  const entry = auditEntryOf(context, { time: now, tenant, action: 'agentCertificate.issued', target: `agentCertificate:${id}`, reason: `clientId ${clientId}` });
  const record = await agentCertificates.insert({
    id,
    tenant,
    name,
    owner,
    clientId,
    managedCaId: ca.id,
    certificatePem: certificate.pem,
    fingerprintSha256: certificate.fingerprintSha256,
    serialNumber: certificate.serialNumber,
    keySource: csr ? 'csr' : 'generated',
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    createdAt: now,
  }, entry);
  audit.logWritten(entry);
  const agent = await agents.findByClientId(tenant, clientId);
  return { certificate: record, caCertificatePem: ca.certificatePem, agentId: agent?.id, privateKeyPem: issued.privateKeyPem };
};
