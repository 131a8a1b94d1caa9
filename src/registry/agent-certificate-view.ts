import type { AgentId, TenantId } from '../shared/index.ts';
import type { AgentCertificateRecord } from './agent-certificate.ts';
import type { RegistryDependencies } from './ports.ts';

// An agent certificate as the API shows it: with the managed CA that issued it (agents send the
// chain) and the agent it authenticates, once that agent has connected.
export interface AgentCertificateView {
  readonly certificate: AgentCertificateRecord;
  readonly caCertificatePem: string;
  /** The agent with this certificate's client id, once onboarded (first connection). */
  readonly agentId: AgentId | undefined;
}

type Dependencies = Pick<RegistryDependencies, 'agents' | 'managedCas'>;

// One agents query and one CA read for a whole list, not one per certificate.
export const viewAgentCertificates = async (
  { agents, managedCas }: Dependencies,
  tenant: TenantId,
  certificates: readonly AgentCertificateRecord[],
): Promise<AgentCertificateView[]> => {
  if (certificates.length === 0) return [];
  const [ca, tenantAgents] = await Promise.all([managedCas.find(tenant), agents.list(tenant)]);
  // A tenant's certificates exist only once its managed CA does; it is never deleted.
  if (!ca) throw new Error(`agent certificates of tenant ${tenant} without a managed CA`);
  const agentIdByClientId = new Map(tenantAgents.map((agent) => [agent.clientId, agent.id]));
  return certificates.map((certificate) => ({ certificate, caCertificatePem: ca.certificatePem, agentId: agentIdByClientId.get(certificate.clientId) }));
};
