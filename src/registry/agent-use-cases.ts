import { DomainError, type AgentId, type TenantId } from '../shared/index.ts';
import type { AgentListFilter, AgentRecord } from './agent.ts';
import type { RegistryDependencies } from './ports.ts';

const agentNotFound = (id: string): DomainError =>
  new DomainError('agent.notFound', `No agent with id "${id}" in your tenant. List yours with GET /agents.`);

type Dependencies = Pick<RegistryDependencies, 'agents' | 'events'>;

// A caCertificateId that is not the tenant's (another tenant's, deleted, or never issued) matches
// no agent: the answer is an empty list, exactly as for an id that never existed, so the filter
// tells nothing about other tenants' objects.
export const listAgents = ({ agents }: Dependencies, tenant: TenantId, filter: AgentListFilter = {}): Promise<AgentRecord[]> => agents.list(tenant, filter);

export const findAgent = async ({ agents }: Dependencies, tenant: TenantId, id: AgentId): Promise<AgentRecord> => {
  const agent = await agents.find(tenant, id);
  if (!agent) throw agentNotFound(id);
  return agent;
};

// PATCH /agents/{id}: disabling closes a live session (the broker listens for agentDisabled).
export const setAgentEnabled = async ({ agents, events }: Dependencies, tenant: TenantId, id: AgentId, isEnabled: boolean): Promise<AgentRecord> => {
  const agent = await agents.setEnabled(tenant, id, isEnabled);
  if (!agent) throw agentNotFound(id);
  if (!isEnabled) await events.publish({ type: 'agentDisabled', tenant, agentId: id, clientId: agent.clientId });
  return agent;
};

// DELETE /agents/{id}: forgets the agent and closes its session; it is onboarded anew if it
// connects again with a valid certificate (disable it to keep it out).
export const deleteAgent = async ({ agents, events }: Dependencies, tenant: TenantId, id: AgentId): Promise<void> => {
  const agent = await agents.remove(tenant, id);
  if (!agent) throw agentNotFound(id);
  await events.publish({ type: 'agentDeleted', tenant, agentId: id, clientId: agent.clientId });
};
