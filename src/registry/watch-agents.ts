import { DomainError, type AgentId, type TenantId } from '../shared/index.ts';
import type { AgentRecord } from './agent.ts';

/** What a watcher of a tenant's agents is told: a record that appeared or changed, or an id that is gone. */
export type AgentChange =
  | { readonly type: 'agent'; readonly agent: AgentRecord }
  | { readonly type: 'agentDeleted'; readonly id: AgentId };

export interface AgentWatchOptions {
  /** The tenant's agents, as GET /agents lists them (the store: shared by every node of a cluster). */
  readonly listAgents: (tenant: TenantId) => Promise<readonly AgentRecord[]>;
  /** How often a watched tenant's agents are read again. */
  readonly intervalMs: number;
  readonly maxWatchersPerTenant: number;
  readonly maxWatchers: number;
  readonly log: { warn(fields: object, message: string): void };
}

export interface AgentSubscription {
  /** The tenant's agents when the watch began; every later change reaches `onChange`, none is missed. */
  readonly agents: readonly AgentRecord[];
  /** Idempotent; the last watcher of a tenant stops its poll. */
  close(): void;
}

export interface AgentWatch {
  /** Throws agent.streamTenantLimitReached / agent.streamNodeLimitReached beyond the caps, or the
   *  store's error (storage.unavailable) when the first read fails. */
  watch(tenant: TenantId, onChange: (change: AgentChange) => void): Promise<AgentSubscription>;
  /** Open watches on this node. */
  readonly size: number;
  close(): void;
}

interface Joiner {
  readonly onChange: (change: AgentChange) => void;
  resolve(agents: readonly AgentRecord[]): void;
  reject(error: unknown): void;
}

interface TenantWatch {
  readonly listeners: Set<(change: AgentChange) => void>;
  /** Reserved slots: listeners plus joiners still waiting for their first snapshot. */
  slots: number;
  joiners: Joiner[];
  /** The last read, by id, with the record's comparison key. */
  snapshot: Map<AgentId, { readonly record: AgentRecord; readonly key: string }> | undefined;
  isPolling: boolean;
  isFailing: boolean;
  timer: NodeJS.Timeout | undefined;
}

// Everything GET /agents shows of an agent: a change in any of it is an event.
const keyOf = (agent: AgentRecord): string => JSON.stringify(agent);

/**
 * The console's live agent table (docs/decisions/0027-agent-events-by-polling.md): one poll of the
 * agent store per watched tenant and node, shared by all its watchers, every `intervalMs`; each
 * read is compared with the last and the differences are told to every watcher. The store is what
 * every node writes (online, last connect, certificate, enabled, onboarding, deletion), so an
 * agent on another node shows up like a local one without any event crossing the cluster.
 */
export const watchAgents = ({ listAgents, intervalMs, maxWatchersPerTenant, maxWatchers, log }: AgentWatchOptions): AgentWatch => {
  const tenants = new Map<TenantId, TenantWatch>();
  let size = 0;
  let isClosed = false;

  const release = (tenant: TenantId, state: TenantWatch): void => {
    state.slots -= 1;
    size -= 1;
    if (state.slots === 0) {
      clearInterval(state.timer);
      tenants.delete(tenant);
    }
  };

  const poll = async (tenant: TenantId, state: TenantWatch): Promise<void> => {
    if (state.isPolling) return;
    state.isPolling = true;
    const joiners = state.joiners;
    state.joiners = [];
    try {
      const records = await listAgents(tenant);
      const next = new Map(records.map((record) => [record.id, { record, key: keyOf(record) }]));
      const changes: AgentChange[] = [];
      if (state.snapshot !== undefined) {
        for (const [id, entry] of next) {
          if (state.snapshot.get(id)?.key !== entry.key) changes.push({ type: 'agent', agent: entry.record });
        }
        for (const id of state.snapshot.keys()) if (!next.has(id)) changes.push({ type: 'agentDeleted', id });
      }
      state.snapshot = next;
      state.isFailing = false;
      for (const change of changes) for (const listener of state.listeners) listener(change);
      // Joined after this read's changes went out and before the next read: no change falls between.
      for (const joiner of joiners) {
        state.listeners.add(joiner.onChange);
        joiner.resolve(records);
      }
    } catch (error) {
      if (!state.isFailing) log.warn({ err: error, tenant }, 'could not read the agents of a watched tenant; trying again');
      state.isFailing = true;
      for (const joiner of joiners) joiner.reject(error);
    } finally {
      state.isPolling = false;
    }
    // Someone joined during the read: it waits for a read that began after it asked.
    if (state.joiners.length > 0 && tenants.get(tenant) === state) void poll(tenant, state);
  };

  return {
    get size() {
      return size;
    },
    async watch(tenant, onChange) {
      if (isClosed) throw new DomainError('agent.streamNodeLimitReached', 'This node is shutting down; open the stream on another node.');
      if (size >= maxWatchers) {
        throw new DomainError('agent.streamNodeLimitReached', `This node already serves ${maxWatchers} agent event streams; retry later or on another node.`);
      }
      let state = tenants.get(tenant);
      if (state !== undefined && state.slots >= maxWatchersPerTenant) {
        throw new DomainError('agent.streamTenantLimitReached', `The tenant already has ${maxWatchersPerTenant} agent event streams open on this node; close one first.`);
      }
      if (state === undefined) {
        state = { listeners: new Set(), slots: 0, joiners: [], snapshot: undefined, isPolling: false, isFailing: false, timer: undefined };
        const created = state;
        tenants.set(tenant, created);
        created.timer = setInterval(() => void poll(tenant, created), intervalMs);
        // Never the reason the process stays up.
        created.timer.unref();
      }
      state.slots += 1;
      size += 1;
      const joined = state;
      let agents: readonly AgentRecord[];
      try {
        agents = await new Promise<readonly AgentRecord[]>((resolve, reject) => {
          joined.joiners.push({ onChange, resolve, reject });
          void poll(tenant, joined);
        });
      } catch (error) {
        release(tenant, joined);
        throw error;
      }
      let isOpen = true;
      return {
        agents,
        close() {
          if (!isOpen) return;
          isOpen = false;
          joined.listeners.delete(onChange);
          release(tenant, joined);
        },
      };
    },
    close() {
      isClosed = true;
      for (const state of tenants.values()) clearInterval(state.timer);
    },
  };
};
