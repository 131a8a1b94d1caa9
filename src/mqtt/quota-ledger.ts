// Where the counts behind the broker's caps live. The embedded broker keeps its sessions and
// retained messages in this process (aedes-persistence), so this process's counts are the truth;
// a cluster keeps them in Redis (aedes-persistence-redis), shared by every node, and its ledger
// (src/cluster/redis-quota-ledger.ts) counts in Redis, atomically, so a cap holds across nodes.
// The clocks of persistent sessions whose clients are away live there too.
import { InMemorySessionClocks, type SessionClocks } from './session-expiry.ts';

export type RetainedVerdict = 'ok' | 'retainedPerTenant' | 'retainedPerClient';
export type QueuedVerdict = 'ok' | 'queuedPerClient' | 'queuedPerTenant';
export type SessionVerdict = 'ok' | 'persistentSessionsPerTenant';

export interface QuotaCaps {
  readonly perTenant: number;
  readonly perClient: number;
}

/** One persistent session a message is about to be queued for. */
export interface QueueEntry {
  readonly clientId: string;
  readonly tenant: string;
  /** Connected (on this node): its entries are in flight and leave with its PUBACKs; only its
   *  own cap applies, so a tenant whose offline queues are full still reaches live sessions. */
  readonly isConnected: boolean;
}

export interface QuotaLedger extends SessionClocks {
  /** A retained message is about to be stored on `topic`: 'ok' when the topic already holds one
   *  (a replacement never grows anything) or both caps leave room, else the cap that refuses. */
  claimRetained(tenant: string, clientId: string, topic: string, caps: QuotaCaps): Promise<RetainedVerdict>;
  /** The retained message on `topic` is being cleared (an empty retained PUBLISH). */
  releaseRetained(tenant: string, topic: string): Promise<void>;
  /** Takes a place in each session's queue (and its tenant's), or says which cap refuses it. */
  reserveQueued(entries: readonly QueueEntry[], caps: QuotaCaps): Promise<readonly QueuedVerdict[]>;
  /** One queued packet left the session's queue (PUBACK, replay, expiry). */
  releaseQueued(clientId: string, tenant: string): void;
  /** The session's queue is gone (aedes-persistence-redis drops it with the subscriptions);
   *  `onlyIfGone`: it may be, look first. */
  resetQueued(clientId: string, options?: { readonly onlyIfGone?: boolean }): Promise<void>;
  /** A CONNECT with clean session = false: 'ok' when the client id already holds a persistent
   *  session (a resumption is never refused) or the tenant has a place left, which it takes. */
  claimSession(tenant: string, clientId: string, cap: number): Promise<SessionVerdict>;
  /** The session was deleted (clean CONNECT, expiry): its queue count resets and its place is
   *  free. One call (one script in a cluster) for both, on a path that already had the reset. */
  sessionCleaned(clientId: string): Promise<void>;
  /** QoS 1 messages queued for all persistent sessions, where the ledger holds them in this process. */
  queuedMessages?(): number;
}

/** Client ids are `<tenant>_…` (agents and applications alike; `_` is not in tenant names). */
export const tenantOfClientId = (clientId: string): string => clientId.slice(0, Math.max(0, clientId.indexOf('_')));

const decrement = (map: Map<string, number>, key: string): void => {
  const next = (map.get(key) ?? 0) - 1;
  if (next > 0) map.set(key, next);
  else map.delete(key);
};

/** The embedded broker's ledger: plain maps, exact because only this process stores anything. */
export class InMemoryQuotaLedger extends InMemorySessionClocks implements QuotaLedger {
  /** tenant → retained topic → the client id that first retained it (its count holds the topic). */
  readonly #retainedByTenant = new Map<string, Map<string, string>>();
  readonly #retainedCountByClient = new Map<string, number>();
  readonly #queuedByClient = new Map<string, number>();
  readonly #queuedByTenant = new Map<string, number>();
  /** tenant → the client ids holding a persistent session. */
  readonly #sessionsByTenant = new Map<string, Set<string>>();
  #queuedTotal = 0;

  queuedMessages(): number {
    return this.#queuedTotal;
  }

  async claimRetained(tenant: string, clientId: string, topic: string, caps: QuotaCaps): Promise<RetainedVerdict> {
    let topics = this.#retainedByTenant.get(tenant);
    if (topics?.has(topic)) return 'ok';
    if ((topics?.size ?? 0) >= caps.perTenant) return 'retainedPerTenant';
    const held = this.#retainedCountByClient.get(clientId) ?? 0;
    if (held >= caps.perClient) return 'retainedPerClient';
    if (!topics) this.#retainedByTenant.set(tenant, topics = new Map());
    topics.set(topic, clientId);
    this.#retainedCountByClient.set(clientId, held + 1);
    return 'ok';
  }

  async releaseRetained(tenant: string, topic: string): Promise<void> {
    const topics = this.#retainedByTenant.get(tenant);
    const owner = topics?.get(topic);
    if (owner === undefined || !topics) return;
    topics.delete(topic);
    if (topics.size === 0) this.#retainedByTenant.delete(tenant);
    decrement(this.#retainedCountByClient, owner);
  }

  async reserveQueued(entries: readonly QueueEntry[], caps: QuotaCaps): Promise<readonly QueuedVerdict[]> {
    return entries.map(({ clientId, tenant, isConnected }): QueuedVerdict => {
      const queued = this.#queuedByClient.get(clientId) ?? 0;
      if (queued >= caps.perClient) return 'queuedPerClient';
      const tenantQueued = this.#queuedByTenant.get(tenant) ?? 0;
      if (!isConnected && tenantQueued >= caps.perTenant) return 'queuedPerTenant';
      this.#queuedByClient.set(clientId, queued + 1);
      this.#queuedByTenant.set(tenant, tenantQueued + 1);
      this.#queuedTotal += 1;
      return 'ok';
    });
  }

  releaseQueued(clientId: string, tenant: string): void {
    if (!this.#queuedByClient.has(clientId)) return;
    this.#queuedTotal -= 1;
    decrement(this.#queuedByClient, clientId);
    decrement(this.#queuedByTenant, tenant);
  }

  async resetQueued(): Promise<void> {
    // aedes-persistence's cleanSubscriptions leaves the queue in place; it leaves through
    // outgoingClearMessageId (the replay at CONNECT, or expiry), one releaseQueued each.
  }

  async claimSession(tenant: string, clientId: string, cap: number): Promise<SessionVerdict> {
    let sessions = this.#sessionsByTenant.get(tenant);
    if (sessions?.has(clientId)) return 'ok';
    if ((sessions?.size ?? 0) >= cap) return 'persistentSessionsPerTenant';
    if (!sessions) this.#sessionsByTenant.set(tenant, sessions = new Set());
    sessions.add(clientId);
    return 'ok';
  }

  async sessionCleaned(clientId: string): Promise<void> {
    const tenant = tenantOfClientId(clientId);
    const sessions = this.#sessionsByTenant.get(tenant);
    if (!sessions?.delete(clientId)) return;
    if (sessions.size === 0) this.#sessionsByTenant.delete(tenant);
  }
}
