import { DomainError, type AgentCertificateId, type TenantId } from '../shared/index.ts';
import { viewAgentCertificates, type AgentCertificateView } from './agent-certificate-view.ts';
import type { RegistryDependencies } from './ports.ts';
import { auditEntryOf, systemContext, type AuditContext } from './audit-context.ts';

// Another tenant's id is indistinguishable from a missing one.
export const agentCertificateNotFound = (id: string): DomainError =>
  new DomainError('agentCertificate.notFound', `No agent certificate with id "${id}" in your tenant. List yours with GET /agentCertificates.`);

type Dependencies = Pick<RegistryDependencies, 'agentCertificates' | 'agents' | 'managedCas' | 'events' | 'clock' | 'audit'>;

export const listAgentCertificates = async (dependencies: Dependencies, tenant: TenantId): Promise<AgentCertificateView[]> =>
  viewAgentCertificates(dependencies, tenant, await dependencies.agentCertificates.list(tenant));

export const findAgentCertificate = async (dependencies: Dependencies, tenant: TenantId, id: AgentCertificateId): Promise<AgentCertificateView> => {
  const certificate = await dependencies.agentCertificates.find(tenant, id);
  if (!certificate) throw agentCertificateNotFound(id);
  const [view] = await viewAgentCertificates(dependencies, tenant, [certificate]);
  return view!;
};

// DELETE /agentCertificates/{id}: revokes it. The record stays (status REVOKED, so the name can be
// issued again); the broker refuses the certificate from then on and closes sessions using it
// before this resolves. By issuer + serial number (RFC 5280 §5.3), never by a hash of the bytes. Revoking again answers the same and changes nothing stored; the event is
// published again (applying it is idempotent), so a node that missed it catches up.
export const revokeAgentCertificate = async (
  { agentCertificates, events, clock, audit }: Dependencies, tenant: TenantId, id: AgentCertificateId, context: AuditContext = systemContext,
): Promise<void> => {
  const now = clock.now();
  const entry = auditEntryOf(context, { time: now, tenant, action: 'agentCertificate.revoked', target: `agentCertificate:${id}` });
  const revoked = await agentCertificates.revoke(tenant, id, now, entry);
  if (!revoked) throw agentCertificateNotFound(id);
  // The store wrote the entry only if this call revoked it (a repeat keeps the first revokedAt).
  if (revoked.revokedAt?.getTime() === now.getTime()) audit.logWritten(entry);
  await events.publish({ type: 'agentCertificateRevoked', tenant, agentCertificateId: id, caCertificateId: revoked.managedCaId, serialNumber: revoked.serialNumber });
};
