import type { CapHits } from './cap-hits.ts';
import type { QuotaCaps, QuotaLedger, QueueEntry } from './quota-ledger.ts';
import { soleReceiverOf } from './topic-rules.ts';

// Caps on the QoS 1 messages aedes stores for persistent sessions (clean session = false). aedes
// keeps a session's offline queue and its unacknowledged deliveries in one list per client id
// (`outgoing`), filled by `outgoingEnqueueCombi` for every persistent subscriber of a message and
// emptied by `outgoingClearMessageId` (PUBACK, or the replay at CONNECT), in aedes-persistence and
// aedes-persistence-redis alike: those calls are wrapped here and counted in the ledger (this
// process's maps, or Redis in a cluster), so the caps hold on both. A message without persistent
// subscribers — the common case — never reaches the ledger.

interface Subscriber { readonly clientId: string }
interface QueuedPacket { readonly topic: string }
interface SessionClient { readonly id: string; readonly clean?: boolean; readonly connected?: boolean }

export interface QueuePersistence {
  outgoingEnqueueCombi(subs: readonly Subscriber[], packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: SessionClient, packet: object): Promise<QueuedPacket | undefined>;
  cleanSubscriptions(client: SessionClient): Promise<unknown>;
  removeSubscriptions(client: SessionClient, topics: readonly string[]): Promise<unknown>;
}

export interface QueueQuotaDependencies {
  readonly caps: QuotaCaps;
  readonly ledger: QuotaLedger;
  readonly hits: CapHits;
  /** The connected client with this id on this node, if any. */
  readonly connectedClient: (clientId: string) => { readonly closed: boolean; close(): void } | undefined;
  readonly onLedgerError: (error: unknown) => void;
  /** Messages not queued for `count` sessions because the ledger failed (fail closed). */
  readonly onNotQueued?: (count: number) => void;
}

/** `tc/<tenant>/…` → tenant (topic rules keep every message, and its subscribers, in one tenant). */
export const tenantOfTopic = (topic: string): string => {
  if (!topic.startsWith('tc/')) return '';
  const end = topic.indexOf('/', 3);
  return end === -1 ? topic.slice(3) : topic.slice(3, end);
};

const NOTHING: Promise<undefined> = Promise.resolve(undefined);

export const applyQueueQuotas = (persistence: QueuePersistence, { caps, ledger, hits, connectedClient, onLedgerError, onNotQueued }: QueueQuotaDependencies): void => {
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  persistence.outgoingEnqueueCombi = async (allSubs, packet) => {
    // An agent's access token answer is queued for that agent only: never stored for an offline
    // application subscribed to tc/<tenant>/# (mayReceive would drop it at delivery anyway), where
    // it would sit as a credential at rest and fill the application's queue (security review of
    // decision 0033). Filtered before the ledger, so no place is reserved for it.
    const soleReceiver = soleReceiverOf(packet.topic);
    const subs = soleReceiver === undefined ? allSubs : allSubs.filter((sub) => sub.clientId === soleReceiver);
    if (subs.length === 0) return;
    const tenant = tenantOfTopic(packet.topic);
    const entries: QueueEntry[] = subs.map((sub) => {
      const connected = connectedClient(sub.clientId);
      return { clientId: sub.clientId, tenant, isConnected: connected !== undefined && !connected.closed };
    });
    let verdicts: readonly string[];
    try {
      verdicts = await ledger.reserveQueued(entries, caps);
    } catch (error) {
      // Fail closed: a message whose places could not be counted is not queued (it is still
      // delivered to the subscribers connected now).
      onLedgerError(error);
      onNotQueued?.(subs.length);
      return;
    }
    const admitted = subs.filter((sub, i) => {
      const verdict = verdicts[i];
      if (verdict === 'ok') return true;
      const { isConnected } = entries[i]!;
      if (verdict === 'queuedPerClient') {
        hits.hit('queuedPerClient', { clientId: sub.clientId, tenant, limit: caps.perClient },
          isConnected ? 'a connected persistent session holds too many unacknowledged QoS 1 messages: disconnected'
            : 'the queue of an offline persistent session is full: a QoS 1 message was not queued for it', isConnected);
        // It reads but does not acknowledge; aedes could not store its next delivery either.
        if (isConnected) connectedClient(sub.clientId)?.close();
      } else {
        hits.hit('queuedPerTenant', { clientId: sub.clientId, tenant, limit: caps.perTenant }, 'the tenant\'s queued QoS 1 messages are at their cap: a message was not queued for an offline session');
      }
      return false;
    });
    if (admitted.length > 0) await enqueueCombi(admitted, packet);
  };

  const clearMessageId = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingClearMessageId = (client, packet) => {
    // A clean session has no stored queue once connected (the replay at CONNECT cleared what an
    // earlier persistent session left); aedes-persistence would add an empty entry per client id.
    if (client.clean === true && client.connected === true) return NOTHING;
    return clearMessageId(client, packet).then((removed) => {
      if (removed) ledger.releaseQueued(client.id, tenantOfTopic(removed.topic));
      return removed;
    });
  };

  // Every clean CONNECT comes here, and the session expiry: the reset (which also frees the
  // session's persistent-session place) is not waited for (no round trip added to the CONNECT),
  // and nothing can be queued for a clean session meanwhile. It is sent before the CONNECT goes
  // on, so on the ledger's one connection it precedes any later claim by the same client id.
  const cleanSubscriptions = persistence.cleanSubscriptions.bind(persistence);
  persistence.cleanSubscriptions = async (client) => {
    const result = await cleanSubscriptions(client);
    ledger.sessionCleaned(client.id).catch(onLedgerError);
    return result;
  };

  // An UNSUBSCRIBE of a persistent session's last filter: aedes-persistence-redis drops its queue.
  const removeSubscriptions = persistence.removeSubscriptions.bind(persistence);
  persistence.removeSubscriptions = async (client, topics) => {
    const result = await removeSubscriptions(client, topics);
    ledger.resetQueued(client.id, { onlyIfGone: true }).catch(onLedgerError);
    return result;
  };
};
