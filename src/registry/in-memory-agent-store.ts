import { newResourceId, type AgentId, type TenantId } from '../shared/index.ts';
import { certificateChangeOf, matchesAgentListFilter, type AgentConnection, type AgentListFilter, type AgentRecord, type RecordedConnection } from './agent.ts';
import type { AgentStore } from './ports.ts';

// Reference AgentStore for unit tests; the contract suite holds the Kysely adapter to the same.
export class InMemoryAgentStore implements AgentStore {
  readonly #agents = new Map<AgentId, AgentRecord & { sessionId: string | undefined }>();

  async recordConnection(connection: AgentConnection): Promise<RecordedConnection | { readonly isDisabled: true }> {
    const existing = [...this.#agents.values()].find((a) => a.tenant === connection.tenant && a.clientId === connection.clientId);
    if (existing && !existing.isEnabled) return { isDisabled: true };
    const agent = {
      id: existing?.id ?? newResourceId() as AgentId,
      tenant: connection.tenant,
      clientId: connection.clientId,
      commonName: connection.commonName,
      caCertificateId: connection.caCertificateId,
      certificateFingerprintSha256: connection.certificateFingerprintSha256,
      certificateValidity: connection.certificateValidity,
      isEnabled: true,
      isOnline: true,
      firstConnectedAt: existing?.firstConnectedAt ?? connection.at,
      lastConnectedAt: connection.at,
      sessionId: connection.sessionId,
    };
    this.#agents.set(agent.id, agent);
    const certificateChange = existing && certificateChangeOf(existing, connection);
    return certificateChange ? { ...strip(agent), certificateChange } : strip(agent);
  }

  async recordDisconnection(tenant: TenantId, agentId: AgentId, sessionId: string, _at?: Date, takenOverBy?: string): Promise<void> {
    const agent = this.#agents.get(agentId);
    if (agent?.tenant !== tenant || agent.sessionId !== sessionId) return;
    const isHandedOn = takenOverBy !== undefined && agent.isEnabled;
    this.#agents.set(agentId, { ...agent, isOnline: isHandedOn, sessionId: isHandedOn ? takenOverBy : undefined });
  }

  async markAllOffline(nodeId?: string): Promise<void> {
    for (const [id, agent] of this.#agents) {
      if (nodeId === undefined || agent.sessionId?.startsWith(`${nodeId}.`)) this.#agents.set(id, { ...agent, isOnline: false, sessionId: undefined });
    }
  }

  async findByClientId(tenant: TenantId, clientId: string): Promise<AgentRecord | undefined> {
    const agent = [...this.#agents.values()].find((a) => a.tenant === tenant && a.clientId === clientId);
    return agent && strip(agent);
  }

  async list(tenant: TenantId, filter: AgentListFilter = {}): Promise<AgentRecord[]> {
    return [...this.#agents.values()].filter((a) => a.tenant === tenant && matchesAgentListFilter(a, filter))
      .sort((a, b) => a.firstConnectedAt.getTime() - b.firstConnectedAt.getTime() || a.id.localeCompare(b.id)).map(strip);
  }

  async find(tenant: TenantId, id: AgentId): Promise<AgentRecord | undefined> {
    const agent = this.#agents.get(id);
    return agent?.tenant === tenant ? strip(agent) : undefined;
  }

  async setEnabled(tenant: TenantId, id: AgentId, isEnabled: boolean): Promise<AgentRecord | undefined> {
    const agent = this.#agents.get(id);
    if (agent?.tenant !== tenant) return undefined;
    const updated = { ...agent, isEnabled };
    this.#agents.set(id, updated);
    return strip(updated);
  }

  async remove(tenant: TenantId, id: AgentId): Promise<AgentRecord | undefined> {
    const agent = this.#agents.get(id);
    if (agent?.tenant !== tenant) return undefined;
    this.#agents.delete(id);
    return strip(agent);
  }
}

const strip = ({ sessionId: _sessionId, ...agent }: AgentRecord & { sessionId: string | undefined }): AgentRecord => agent;
