import type { Redis } from 'ioredis';

// The broker's quota counts for a cluster, next to what they count: aedes-persistence-redis keeps
// the persistent sessions (`clients` set, `outgoing:<id>` lists) and retained messages on the same
// Redis connection (same key prefix), so every node reads and writes one truth. Structurally the
// mqtt module's QuotaLedger port (src/mqtt/quota-ledger.ts); cluster does not import mqtt.

type RetainedVerdict = 'ok' | 'retainedPerTenant' | 'retainedPerClient';

const retainedTopicsKey = (tenant: string) => `quota:retained:${encodeURIComponent(tenant)}`;
const retainedCountKey = (clientId: string) => `quota:retained-by:${encodeURIComponent(clientId)}`;
// aedes-persistence-redis's own key for a session's queue (asyncPersistence.js `outgoingKey`).
const outgoingKey = (clientId: string) => `outgoing:${encodeURIComponent(clientId)}`;

// Atomic check-and-claim, so two nodes storing retained messages for one tenant at once cannot
// both take the last slot. KEYS: the tenant's topic → owner hash, the owner's counter.
// ARGV: topic, client id, tenant cap, client cap. 0 = ok, 1 = tenant full, 2 = client full.
const CLAIM_RETAINED = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[4]) then return 2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 0`;

const VERDICTS: readonly RetainedVerdict[] = ['ok', 'retainedPerTenant', 'retainedPerClient'];

export class RedisQuotaLedger {
  readonly #redis: Redis;

  /** `redis`: the backplane's session connection (its key prefix is the persistence's). */
  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async claimRetained(tenant: string, clientId: string, topic: string, caps: { perTenant: number; perClient: number }): Promise<RetainedVerdict> {
    const answer = await this.#redis.eval(CLAIM_RETAINED, 2, retainedTopicsKey(tenant), retainedCountKey(clientId),
      topic, clientId, caps.perTenant, caps.perClient) as number;
    return VERDICTS[answer] ?? 'retainedPerTenant';
  }

  async releaseRetained(tenant: string, topic: string): Promise<void> {
    const owner = await this.#redis.hget(retainedTopicsKey(tenant), topic);
    if (owner === null) return;
    if (await this.#redis.hdel(retainedTopicsKey(tenant), topic) === 1) await this.#redis.decr(retainedCountKey(owner));
  }

  async queueLength(clientId: string): Promise<number> {
    return this.#redis.llen(outgoingKey(clientId));
  }

  async persistentClientIds(): Promise<readonly string[]> {
    return this.#redis.smembers('clients');
  }
}
