import type { CapHits } from './cap-hits.ts';
import type { QuotaLedger } from './quota-ledger.ts';

// Caps on the QoS 1 messages aedes stores for persistent sessions (clean session = false). aedes
// keeps a session's offline queue and its unacknowledged deliveries in one list per client id
// (`outgoing`), filled by `outgoingEnqueueCombi` for every persistent subscriber of a message and
// emptied by `outgoingClearMessageId` (PUBACK, or the replay at CONNECT), in aedes-persistence and
// aedes-persistence-redis alike: those two calls are wrapped here, so the caps hold on both.
//
// Counts are kept here, per client id and per tenant, and cost two Map updates per queued
// message. In a cluster other nodes also queue and acknowledge, so this node's count can be off:
// before refusing, it asks the ledger (Redis: the list's length) and decides on that.

export interface QueueCaps {
  readonly perClient: number;
  readonly perTenant: number;
}

interface Subscriber { readonly clientId: string }
interface QueuedPacket { readonly topic: string }
interface SessionClient { readonly id: string; readonly clean?: boolean; readonly connected?: boolean }

export interface QueuePersistence {
  outgoingEnqueueCombi(subs: readonly Subscriber[], packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: SessionClient, packet: object): Promise<QueuedPacket | undefined>;
  cleanSubscriptions(client: SessionClient): Promise<unknown>;
}

export interface QueueQuotaDependencies {
  readonly caps: QueueCaps;
  readonly ledger: QuotaLedger;
  readonly hits: CapHits;
  /** The connected client with this id on this node, if any. */
  readonly connectedClient: (clientId: string) => { readonly closed: boolean; close(): void } | undefined;
}

/** `tc/<tenant>/…` → tenant (topic rules keep every message, and its subscribers, in one tenant). */
export const tenantOfTopic = (topic: string): string => {
  if (!topic.startsWith('tc/')) return '';
  const end = topic.indexOf('/', 3);
  return end === -1 ? topic.slice(3) : topic.slice(3, end);
};

const NOTHING: Promise<undefined> = Promise.resolve(undefined);
/** Between two recounts of a full tenant from the ledger (a cluster only). */
const TENANT_RECOUNT_INTERVAL_MS = 1_000;

export const applyQueueQuotas = (persistence: QueuePersistence, { caps, ledger, hits, connectedClient }: QueueQuotaDependencies): void => {
  const byClient = new Map<string, number>();
  const byTenant = new Map<string, number>();
  const clientsOfTenant = new Map<string, Set<string>>();
  const tenantRecountedAt = new Map<string, number>();

  const setCount = (clientId: string, tenant: string, count: number): void => {
    const previous = byClient.get(clientId) ?? 0;
    const next = Math.max(0, count);
    if (next === 0) byClient.delete(clientId);
    else byClient.set(clientId, next);
    const tenantCount = Math.max(0, (byTenant.get(tenant) ?? 0) + next - previous);
    if (tenantCount === 0) byTenant.delete(tenant);
    else byTenant.set(tenant, tenantCount);
    let clients = clientsOfTenant.get(tenant);
    if (next > 0 && !clients?.has(clientId)) {
      if (!clients) clientsOfTenant.set(tenant, clients = new Set());
      clients.add(clientId);
    } else if (next === 0 && clients?.delete(clientId) && clients.size === 0) clientsOfTenant.delete(tenant);
  };

  const reserve = (clientId: string, tenant: string, isConnected: boolean): boolean => {
    const count = byClient.get(clientId) ?? 0;
    // A connected client's entries are in flight and leave with its PUBACKs; its own cap bounds
    // them, so a tenant whose offline queues are full still reaches its connected sessions.
    if (count >= caps.perClient || (!isConnected && (byTenant.get(tenant) ?? 0) >= caps.perTenant)) return false;
    if (count === 0) setCount(clientId, tenant, 1);
    else {
      byClient.set(clientId, count + 1);
      byTenant.set(tenant, (byTenant.get(tenant) ?? 0) + 1);
    }
    return true;
  };

  const recountTenant = async (tenant: string): Promise<void> => {
    const now = Date.now();
    if (now - (tenantRecountedAt.get(tenant) ?? 0) < TENANT_RECOUNT_INTERVAL_MS) return;
    tenantRecountedAt.set(tenant, now);
    for (const clientId of [...clientsOfTenant.get(tenant) ?? []]) {
      const length = await ledger.queueLength(clientId);
      if (length !== undefined) setCount(clientId, tenant, length);
    }
  };

  // The slow path, only at a cap: recount from the ledger, then decide.
  const reserveAfterRecount = async (clientId: string, tenant: string): Promise<boolean> => {
    const connected = connectedClient(clientId);
    const isConnected = connected !== undefined && !connected.closed;
    const length = await ledger.queueLength(clientId);
    if (length !== undefined) {
      setCount(clientId, tenant, length);
      if ((byTenant.get(tenant) ?? 0) >= caps.perTenant) await recountTenant(tenant);
    }
    if (reserve(clientId, tenant, isConnected)) return true;
    if ((byClient.get(clientId) ?? 0) >= caps.perClient) {
      hits.hit('queuedPerClient', { clientId, tenant, limit: caps.perClient },
        isConnected ? 'a connected persistent session holds too many unacknowledged QoS 1 messages: disconnected, the message stays out of its queue'
          : 'the queue of an offline persistent session is full: a QoS 1 message was not queued for it', isConnected);
      // It reads but does not acknowledge: aedes could not store the delivery either.
      if (isConnected) connected.close();
    } else {
      hits.hit('queuedPerTenant', { clientId, tenant, limit: caps.perTenant }, 'the tenant\'s queued QoS 1 messages are at their cap: a message was not queued for an offline session');
    }
    return false;
  };

  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    const tenant = tenantOfTopic(packet.topic);
    let admitted: Subscriber[] | undefined; // copied only once someone is refused
    for (let i = 0; i < subs.length; i += 1) {
      const sub = subs[i]!;
      const connected = connectedClient(sub.clientId);
      if (reserve(sub.clientId, tenant, connected !== undefined && !connected.closed) || await reserveAfterRecount(sub.clientId, tenant)) {
        admitted?.push(sub);
      } else {
        admitted ??= subs.slice(0, i);
      }
    }
    const queued = admitted ?? subs;
    if (queued.length > 0) await enqueueCombi(queued, packet);
  };

  const clearMessageId = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingClearMessageId = (client, packet) => {
    // A clean session has no stored queue once connected (the replay at CONNECT cleared what an
    // earlier persistent session left); aedes-persistence would add an empty entry per client id.
    if (client.clean === true && client.connected === true) return NOTHING;
    return clearMessageId(client, packet).then((removed) => {
      if (removed) {
        const tenant = tenantOfTopic(removed.topic);
        setCount(client.id, tenant, (byClient.get(client.id) ?? 0) - 1);
      }
      return removed;
    });
  };

  const cleanSubscriptions = persistence.cleanSubscriptions.bind(persistence);
  persistence.cleanSubscriptions = async (client) => {
    const result = await cleanSubscriptions(client);
    // aedes-persistence-redis drops the queue with the last subscription; the in-memory one
    // keeps it until the replay at CONNECT clears it (counted above).
    const length = await ledger.queueLength(client.id);
    if (length !== undefined) {
      for (const [tenant, clients] of clientsOfTenant) {
        if (clients.has(client.id)) setCount(client.id, tenant, length);
      }
    }
    return result;
  };
};
