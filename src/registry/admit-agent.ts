import type { X509Certificate } from 'node:crypto';
import { parseCertificateDer } from '../pki/index.ts';
import { DomainError, isDomainError, type TenantId } from '../shared/index.ts';
import { agentCertificateValidityOf, type AgentCertificateChange, type AgentRecord } from './agent.ts';
import { admitAgentCertificate } from './agent-admission.ts';
import type { RegistryDependencies } from './ports.ts';
import { agentContext, auditEntryOf } from './audit-context.ts';

export interface AdmitAgentInput {
  readonly certificateDer: Buffer;
  /** The same certificate as OpenSSL already parsed it in the TLS handshake, if at hand. */
  readonly peerCertificate?: X509Certificate;
  readonly clientId: string;
  readonly sessionId: string;
  /** The peer's address, for the onboarding's audit entry. */
  readonly sourceAddress?: string | undefined;
}

/** A session lives no longer than what admitted it — the agent certificate and
 *  its CA, whichever expires first (the instant admission would refuse it, with that code). */
export interface AgentValidUntil {
  readonly at: Date;
  readonly code: 'mqtt.certificateExpired' | 'mqtt.caExpired';
}

const validUntilOf = (certificateNotAfter: Date, caNotAfter: Date): AgentValidUntil =>
  caNotAfter < certificateNotAfter ? { at: caNotAfter, code: 'mqtt.caExpired' } : { at: certificateNotAfter, code: 'mqtt.certificateExpired' };

// The broker's one question: peer certificate + client id in, agent identity or a coded refusal
// (DomainError) out. Finding the CA is in memory; only onboarding/updating the agent touches storage.
export const admitAgent = async (
  { agents, clock, settings, trustIndex, audit }: Pick<RegistryDependencies, 'agents' | 'clock' | 'settings' | 'trustIndex' | 'audit'>,
  { certificateDer, peerCertificate, clientId, sessionId, sourceAddress }: AdmitAgentInput,
): Promise<{
  agent: AgentRecord; tenant: TenantId; certificateSerialNumber: string; validUntil: AgentValidUntil;
  /** Set when a known agent came with another certificate or CA than its record held: the record
   *  switched to this one (the broker logs it; issue 13, item 3). */
  certificateChange: AgentCertificateChange | undefined;
}> => {
  let certificate;
  try {
    certificate = parseCertificateDer(certificateDer, 'client certificate', peerCertificate);
  } catch (error) {
    throw new DomainError('mqtt.certificateInvalid', isDomainError(error) ? error.message : 'The client certificate cannot be read.', { cause: error });
  }
  const now = clock.now();
  const verdict = admitAgentCertificate({ certificate, clientId, now, clockSkewMs: settings.clockSkewMs }, trustIndex);
  // The details name the tenant the certificate proved (its issuer): the broker's connect limits
  // attribute refusals by it (docs/limits.md), never by the client id a client chose.
  if (!verdict.isAccepted) throw new DomainError(verdict.code, verdict.message, verdict.issuerTenant ? { details: { issuerTenant: verdict.issuerTenant } } : {});
  // Written only if this connection onboards the agent, in the same transaction (the actor is the agent itself).
  const onboardingAudit = auditEntryOf(agentContext(verdict.clientId, sourceAddress), {
    time: now, tenant: verdict.tenant, action: 'agent.onboarded', target: `agent:${verdict.clientId}`, reason: `caCertificate:${verdict.caCertificate.id}`,
  });
  const agent = await agents.recordConnection({
    tenant: verdict.tenant,
    clientId: verdict.clientId,
    commonName: verdict.commonName,
    caCertificateId: verdict.caCertificate.id,
    certificateFingerprintSha256: certificate.fingerprintSha256,
    certificateValidity: agentCertificateValidityOf(certificate),
    sessionId,
    at: now,
    onboardingAudit,
  });
  if ('isDisabled' in agent) {
    throw new DomainError('mqtt.agentDisabled', `The agent "${verdict.clientId}" is disabled. Enable it with PATCH /agents/{id} {"enabled": true}.`, { details: { issuerTenant: verdict.tenant } });
  }
  // With the issuing CA (agent.caCertificateId), the serial number names this connection's
  // certificate: a revocation closes exactly its sessions.
  const { certificateChange, isOnboarded, ...record } = agent;
  if (isOnboarded === true) audit.logWritten(onboardingAudit);
  return {
    agent: record, tenant: verdict.tenant, certificateSerialNumber: certificate.serialNumber,
    validUntil: validUntilOf(certificate.notAfter, verdict.caCertificate.certificate.notAfter), certificateChange,
  };
};
