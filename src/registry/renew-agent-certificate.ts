import { agentCertificateProfile, issueCertificate, parseCertificatePem, readCsr } from '../pki/index.ts';
import { DomainError, newResourceId, type AgentCertificateId, type CaCertificateId, type TenantId } from '../shared/index.ts';
import { agentCertificateNotFound } from './agent-certificate-use-cases.ts';
import type { AgentCertificateRecord } from './agent-certificate.ts';
import type { CreatedAgentCertificate } from './create-agent-certificate.ts';
import { AGENT_CERTIFICATE_VALIDITY_DAYS } from './managed-ca-profile.ts';
import type { RegistryDependencies } from './ports.ts';
import { auditEntryOf, systemContext, type AuditContext } from './audit-context.ts';

// Renewal of an agent certificate the tenant's managed CA issued (SPEC "Renewal over MQTT"; also
// POST /agentCertificates/{id}/renew): the agent sends a CSR (its current key or, better, a new
// one) and gets a new certificate for the same name, so the same client id and agent. The old
// certificate stays valid until it expires or is revoked; the new one is a new agent certificate
// record (listed, revocable). At most one renewal per agent per hour, decided by the store (across
// nodes and restarts); checked first, so that a flood costs a read each, never a CSR check or a
// signature.

export const RENEWAL_INTERVAL_MS = 3_600_000;

/** Who asks: an agent session (what its certificate says), or the API naming a certificate. */
export type RenewalSubject =
  | { readonly kind: 'session'; readonly clientId: string; readonly caCertificateId: CaCertificateId; readonly serialNumber: string }
  | { readonly kind: 'certificate'; readonly agentCertificateId: AgentCertificateId };

export interface RenewAgentCertificateInput {
  readonly tenant: TenantId;
  readonly subject: RenewalSubject;
  readonly csrPem: string;
}

type Dependencies = Pick<RegistryDependencies, 'agentCertificates' | 'agents' | 'managedCas' | 'trustIndex' | 'clock' | 'audit'>;

export const renewalTooSoon = (lastRenewalAt: Date): DomainError => {
  const retryAt = new Date(lastRenewalAt.getTime() + RENEWAL_INTERVAL_MS);
  return new DomainError('renewal.tooSoon',
    `This agent renewed its certificate at ${lastRenewalAt.toISOString()}: at most one renewal per hour. Retry at ${retryAt.toISOString()}.`,
    { details: { retryAt: retryAt.toISOString() } });
};

const revoked = (): DomainError =>
  new DomainError('renewal.certificateRevoked', 'The certificate to renew is revoked: it cannot be renewed. Issue a new one with POST /agentCertificates (trustgate agent issue).');

// What the renewal is for: the agent's name and client id, and the certificate it replaces (its owner carries over).
const resolveSubject = async ({ agentCertificates, managedCas, trustIndex }: Dependencies, tenant: TenantId, subject: RenewalSubject) => {
  if (subject.kind === 'certificate') {
    const record = await agentCertificates.find(tenant, subject.agentCertificateId);
    if (!record) throw agentCertificateNotFound(subject.agentCertificateId);
    if (record.isRevoked) throw revoked();
    return { name: record.name, clientId: record.clientId, managedCaId: record.managedCaId };
  }
  const managed = await managedCas.find(tenant);
  if (managed?.id !== subject.caCertificateId) {
    throw new DomainError('renewal.notManagedCa',
      'This agent\'s certificate was issued by the tenant\'s own (uploaded) CA: trustgate renews only certificates of its managed CA. Issue the new certificate with your CA; the agent keeps its identity with the same CN.');
  }
  // Its session closes on revocation; a request already on its way is refused here.
  if (trustIndex.isRevoked(subject.caCertificateId, subject.serialNumber)) throw revoked();
  // Admission made the client id `<tenant>_<CN>`.
  return { name: subject.clientId.slice(tenant.length + 1), clientId: subject.clientId, managedCaId: managed.id };
};

export const renewAgentCertificate = async (
  dependencies: Dependencies,
  { tenant, subject, csrPem }: RenewAgentCertificateInput,
  context: AuditContext = systemContext,
): Promise<CreatedAgentCertificate> => {
  const { agentCertificates, agents, managedCas, clock, audit } = dependencies;
  const { name, clientId, managedCaId } = await resolveSubject(dependencies, tenant, subject);
  const limitFrom = (now: Date) => new Date(now.getTime() - RENEWAL_INTERVAL_MS);
  const last = await agentCertificates.lastRenewalAt(tenant, clientId);
  if (last !== undefined && last > limitFrom(clock.now())) throw renewalTooSoon(last);

  const csr = await readCsr(csrPem);
  if (csr.commonName !== name) {
    throw new DomainError('renewal.commonNameMismatch',
      `The CSR's CN is ${csr.commonName === undefined ? 'missing' : JSON.stringify(csr.commonName.slice(0, 80))}, not the agent's name "${name}". Create it with e.g. "openssl req -new -key agent.key -subj /CN=${name}".`);
  }
  const ca = await managedCas.findForSigning(tenant);
  // A certificate of another CA record than the tenant's managed CA cannot be renewed by it.
  if (ca?.id !== managedCaId) throw new Error(`agent certificate of tenant ${tenant} issued by ${managedCaId}, not its managed CA`);
  const previous: AgentCertificateRecord | undefined = await agentCertificates.findActiveByName(tenant, name);
  const now = clock.now();
  const issued = await issueCertificate(agentCertificateProfile, {
    subject: { CN: name },
    key: csr,
    issuer: { certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem },
    validityDays: AGENT_CERTIFICATE_VALIDITY_DAYS,
    now,
  });
  const certificate = parseCertificatePem(issued.certificatePem, 'renewed agent certificate');
  const id = newResourceId() as AgentCertificateId;
  const entry = auditEntryOf(context, {
    time: now, tenant, action: 'agentCertificate.renewed', target: `agentCertificate:${id}`, reason: previous ? `replaces agentCertificate:${previous.id}` : undefined,
  });
  const stored = await agentCertificates.insertRenewal({
    id,
    tenant,
    name,
    owner: previous?.owner,
    clientId,
    managedCaId: ca.id,
    certificatePem: certificate.pem,
    fingerprintSha256: certificate.fingerprintSha256,
    serialNumber: certificate.serialNumber,
    keySource: 'csr',
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    createdAt: now,
  }, limitFrom(now), entry);
  // Another node (or request) renewed between the check above and here: that one counts.
  if ('lastRenewalAt' in stored) throw renewalTooSoon(stored.lastRenewalAt);
  audit.logWritten(entry);
  const agent = await agents.findByClientId(tenant, clientId);
  return { certificate: stored.renewed, caCertificatePem: ca.certificatePem, agentId: agent?.id, privateKeyPem: undefined };
};
