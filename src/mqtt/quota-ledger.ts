// Where the counts behind the broker's caps live. The embedded broker keeps its sessions and
// retained messages in this process (aedes-persistence), so this process's counts are the truth;
// a cluster keeps them in Redis (aedes-persistence-redis), shared by every node, and its ledger
// (src/cluster/redis-quota-ledger.ts) answers from Redis so a cap holds across nodes.

export type RetainedVerdict = 'ok' | 'retainedPerTenant' | 'retainedPerClient';

export interface RetainedCaps {
  readonly perTenant: number;
  readonly perClient: number;
}

export interface QuotaLedger {
  /** A retained message is about to be stored on `topic`: 'ok' when the topic already holds one
   *  (a replacement never grows anything) or both caps leave room, else the cap that refuses. */
  claimRetained(tenant: string, clientId: string, topic: string, caps: RetainedCaps): Promise<RetainedVerdict>;
  /** The retained message on `topic` is being cleared (an empty retained PUBLISH). */
  releaseRetained(tenant: string, topic: string): Promise<void>;
  /** How many packets the persistence holds for this persistent session, when another node may
   *  have changed it; undefined when this process's own count is exact (the embedded broker). */
  queueLength(clientId: string): Promise<number | undefined>;
  /** Client ids with a stored persistent session when this node starts (to start their expiry
   *  clocks); empty for the embedded broker, whose sessions start empty. */
  persistentClientIds(): Promise<readonly string[]>;
}

/** The embedded broker's ledger: plain maps, exact because only this process stores anything. */
export class InMemoryQuotaLedger implements QuotaLedger {
  /** tenant → retained topic → the client id that first retained it (its count holds the topic). */
  readonly #retainedByTenant = new Map<string, Map<string, string>>();
  readonly #retainedCountByClient = new Map<string, number>();

  async claimRetained(tenant: string, clientId: string, topic: string, caps: RetainedCaps): Promise<RetainedVerdict> {
    let topics = this.#retainedByTenant.get(tenant);
    if (topics?.has(topic)) return 'ok';
    if ((topics?.size ?? 0) >= caps.perTenant) return 'retainedPerTenant';
    const held = this.#retainedCountByClient.get(clientId) ?? 0;
    if (held >= caps.perClient) return 'retainedPerClient';
    if (!topics) {
      topics = new Map();
      this.#retainedByTenant.set(tenant, topics);
    }
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
    const held = (this.#retainedCountByClient.get(owner) ?? 1) - 1;
    if (held > 0) this.#retainedCountByClient.set(owner, held);
    else this.#retainedCountByClient.delete(owner);
  }

  async queueLength(): Promise<undefined> {
    return undefined;
  }

  async persistentClientIds(): Promise<readonly string[]> {
    return [];
  }
}
