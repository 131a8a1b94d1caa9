import { DomainError, type AgentId, type TenantId } from '../shared/index.ts';
import type { AgentListFilter, AgentRecord } from './agent.ts';
import type { RegistryDependencies } from './ports.ts';
import { auditEntryOf, systemContext, type AuditContext } from './audit-context.ts';

const agentNotFound = (id: string): DomainError =>
  new DomainError('agent.notFound', `No agent with id "${id}" in your tenant. List yours with GET /agents.`);

type Dependencies = Pick<RegistryDependencies, 'agents' | 'events' | 'audit' | 'clock'>;

// A caCertificateId that is not the tenant's (another tenant's, deleted, or never issued) matches
// no agent: the answer is an empty list, exactly as for an id that never existed, so the filter
// tells nothing about other tenants' objects.
export const listAgents = ({ agents }: Dependencies, tenant: TenantId, filter: AgentListFilter = {}): Promise<AgentRecord[]> => agents.list(tenant, filter);

export const findAgent = async ({ agents }: Dependencies, tenant: TenantId, id: AgentId): Promise<AgentRecord> => {
  const agent = await agents.find(tenant, id);
  if (!agent) throw agentNotFound(id);
  return agent;
};

// An agent is named by its client id in the trail, as onboarding and the broker's decisions name it
// (an agent deleted and onboarded again is the same name with a new id). Read before the change:
// when the agent is gone by then, the store writes nothing and the 404 stands.
const agentTarget = async (agents: Dependencies['agents'], tenant: TenantId, id: AgentId): Promise<string> =>
  `agent:${(await agents.find(tenant, id))?.clientId ?? id}`;

// PATCH /agents/{id}: disabling closes a live session (the broker listens for agentDisabled).
export const setAgentEnabled = async (
  { agents, events, audit, clock }: Dependencies, tenant: TenantId, id: AgentId, isEnabled: boolean, context: AuditContext = systemContext,
): Promise<AgentRecord> => {
  const entry = auditEntryOf(context, { time: clock.now(), tenant, action: isEnabled ? 'agent.enabled' : 'agent.disabled', target: await agentTarget(agents, tenant, id) });
  const agent = await agents.setEnabled(tenant, id, isEnabled, entry);
  if (!agent) throw agentNotFound(id);
  audit.logWritten(entry);
  if (!isEnabled) await events.publish({ type: 'agentDisabled', tenant, agentId: id, clientId: agent.clientId });
  return agent;
};

// DELETE /agents/{id}: forgets the agent and closes its session; it is onboarded anew if it
// connects again with a valid certificate (disable it to keep it out).
export const deleteAgent = async ({ agents, events, audit, clock }: Dependencies, tenant: TenantId, id: AgentId, context: AuditContext = systemContext): Promise<void> => {
  const entry = auditEntryOf(context, { time: clock.now(), tenant, action: 'agent.deleted', target: await agentTarget(agents, tenant, id) });
  const agent = await agents.remove(tenant, id, entry);
  if (!agent) throw agentNotFound(id);
  audit.logWritten(entry);
  await events.publish({ type: 'agentDeleted', tenant, agentId: id, clientId: agent.clientId });
};
