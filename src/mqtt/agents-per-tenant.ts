import type { Client } from 'aedes';

// Connected agents per tenant (issue 16, part 4): a tenant past its cap gets CONNACK 5
// (mqtt.tenantConnectionLimitReached) for a new agent connection. Counted by client id, so an
// agent that reconnects while its old connection is still here (a takeover) is never refused
// for itself. In a cluster each node counts its own and hears the others' counts every few
// seconds (AgentCensus): the cap then holds to within what connects in one such interval.

/** The other nodes' counts (src/cluster/redis-agent-census.ts, structurally). */
export interface AgentCensus {
  /** Agents of `tenant` connected to the other nodes, as last heard. */
  othersConnected(tenant: string): number;
  /** This node's counts, read whenever the census reports them. */
  start(ownCounts: () => ReadonlyMap<string, number>): Promise<void>;
  close(): Promise<void>;
}

export class AgentsPerTenant {
  readonly #byTenant = new Map<string, Map<string, Client>>();
  readonly #tenantOf = new WeakMap<Client, string>();
  readonly #cap: number;
  readonly #census: AgentCensus | undefined;

  constructor(cap: number, census?: AgentCensus) {
    this.#cap = cap;
    this.#census = census;
  }

  /** Takes a place for an admitted agent connection; false when the tenant is full. */
  claim(tenant: string, client: Client): boolean {
    let clients = this.#byTenant.get(tenant);
    if (!clients?.has(client.id)) {
      const connected = (clients?.size ?? 0) + (this.#census?.othersConnected(tenant) ?? 0);
      if (connected >= this.#cap) return false;
    }
    if (!clients) this.#byTenant.set(tenant, clients = new Map());
    clients.set(client.id, client);
    this.#tenantOf.set(client, tenant);
    return true;
  }

  /** The connection left: its place is free unless a newer connection of its client id holds it. */
  release(client: Client): void {
    const tenant = this.#tenantOf.get(client);
    if (tenant === undefined) return;
    const clients = this.#byTenant.get(tenant);
    if (clients?.get(client.id) !== client) return;
    clients.delete(client.id);
    if (clients.size === 0) this.#byTenant.delete(tenant);
  }

  counts(): ReadonlyMap<string, number> {
    return new Map([...this.#byTenant].map(([tenant, clients]) => [tenant, clients.size]));
  }
}
