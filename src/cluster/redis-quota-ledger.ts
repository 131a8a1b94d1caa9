import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

// The broker's quota counts for a cluster, next to what they count: aedes-persistence-redis keeps
// the persistent sessions (`clients` set, `outgoing:<id>` lists) and retained messages on the same
// Redis connection (same key prefix), so every node reads and writes one truth. Each check-and-
// take is one Lua script, atomic, so two nodes cannot both take a cap's last place. Structurally
// the mqtt module's QuotaLedger port (src/mqtt/quota-ledger.ts); cluster does not import mqtt.

type RetainedVerdict = 'ok' | 'retainedPerTenant' | 'retainedPerClient';
type QueuedVerdict = 'ok' | 'queuedPerClient' | 'queuedPerTenant';
type SessionVerdict = 'ok' | 'persistentSessionsPerTenant';
interface Caps { readonly perTenant: number; readonly perClient: number }
interface QueueEntry { readonly clientId: string; readonly tenant: string; readonly isConnected: boolean }

const key = (kind: string, id: string) => `quota:${kind}:${encodeURIComponent(id)}`;
// aedes-persistence-redis's own key for a session's queue (asyncPersistence.js `outgoingKey`).
const outgoingKey = (clientId: string) => `outgoing:${encodeURIComponent(clientId)}`;
/** Client ids are `<tenant>_…` (agents and applications alike; `_` is not in tenant names). */
const tenantOfClientId = (clientId: string) => clientId.slice(0, Math.max(0, clientId.indexOf('_')));

// KEYS: the tenant's topic → owner hash, the owner's counter. ARGV: topic, client id, tenant cap,
// client cap. 0 = ok (new, or a replacement), 1 = tenant full, 2 = client full.
const CLAIM_RETAINED = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[4]) then return 2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 0`;

// KEYS: the session's counter, its tenant's counter. ARGV: client cap, tenant cap, 1 if the
// session is connected. 0 = ok, 1 = client full, 2 = tenant full.
const RESERVE_QUEUED = `
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return 1 end
if ARGV[3] == '0' and tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[2]) then return 2 end
redis.call('INCR', KEYS[1])
redis.call('INCR', KEYS[2])
return 0`;

// KEYS: the session's counter, its tenant's counter. Never below zero (packets queued before the
// counters existed leave uncounted).
const RELEASE_QUEUED = `
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
  if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
end
return 0`;

// KEYS: the session's counter, its tenant's counter, its queue. ARGV: 1 = only if the queue is
// gone (aedes-persistence-redis drops it with a session's last subscription).
const RESET_QUEUED = `
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local queued = tonumber(redis.call('GET', KEYS[1]) or '0')
if queued > 0 then
  local tenant = tonumber(redis.call('GET', KEYS[2]) or '0')
  redis.call('SET', KEYS[2], math.max(0, tenant - queued))
end
redis.call('DEL', KEYS[1])
return 0`;

// KEYS: the tenant's set of persistent client ids, aedes-persistence-redis' `clients` set (the ids
// holding subscriptions). ARGV: client id, tenant cap. 0 = ok, 1 = tenant full. A session stored
// before this count existed is in `clients`: resuming it is counted, never refused.
const CLAIM_SESSION = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
redis.call('SADD', KEYS[1], ARGV[1])
return 0`;

// RESET_QUEUED for a deleted session (KEYS[4]: its tenant's set of persistent client ids), in
// the same script: a clean CONNECT pays no more commands than before.
const SESSION_CLEANED = `
redis.call('SREM', KEYS[4], ARGV[2])
${RESET_QUEUED}`;

const RETAINED_VERDICTS: readonly RetainedVerdict[] = ['ok', 'retainedPerTenant', 'retainedPerClient'];
const QUEUED_VERDICTS: readonly QueuedVerdict[] = ['ok', 'queuedPerClient', 'queuedPerTenant'];
const SESSIONS_AWAY_KEY = 'quota:sessions-away';
/** A full tenant's counter is rebuilt from the queues at most this often (per node). */
const TENANT_RECOUNT_INTERVAL_MS = 10_000;

export class RedisQuotaLedger {
  readonly #redis: Redis;
  readonly #logger: Logger;
  readonly #tenantRecountedAt = new Map<string, number>();

  /** `redis`: the backplane's session connection (its key prefix is the persistence's). */
  constructor(redis: Redis, logger: Logger) {
    this.#redis = redis;
    this.#logger = logger;
  }

  async claimRetained(tenant: string, clientId: string, topic: string, caps: Caps): Promise<RetainedVerdict> {
    const answer = await this.#redis.eval(CLAIM_RETAINED, 2, key('retained', tenant), key('retained-by', clientId),
      topic, clientId, caps.perTenant, caps.perClient) as number;
    return RETAINED_VERDICTS[answer] ?? 'retainedPerTenant';
  }

  async releaseRetained(tenant: string, topic: string): Promise<void> {
    const owner = await this.#redis.hget(key('retained', tenant), topic);
    if (owner === null) return;
    if (await this.#redis.hdel(key('retained', tenant), topic) === 1) await this.#redis.decr(key('retained-by', owner));
  }

  async reserveQueued(entries: readonly QueueEntry[], caps: Caps): Promise<readonly QueuedVerdict[]> {
    // One script per session, sent together: one round trip for the message.
    const answers = await Promise.all(entries.map(({ clientId, tenant, isConnected }) => this.#redis.eval(RESERVE_QUEUED, 2,
      key('queued', clientId), key('queued-tenant', tenant), caps.perClient, caps.perTenant, isConnected ? 1 : 0) as Promise<number>));
    const verdicts = answers.map((answer) => QUEUED_VERDICTS[answer] ?? 'queuedPerTenant');
    const fullTenant = entries.find((_entry, i) => verdicts[i] === 'queuedPerTenant')?.tenant;
    if (fullTenant !== undefined) this.#recountTenant(fullTenant);
    return verdicts;
  }

  releaseQueued(clientId: string, tenant: string): void {
    this.#redis.eval(RELEASE_QUEUED, 2, key('queued', clientId), key('queued-tenant', tenant))
      .catch((error: unknown) => this.#logger.debug({ err: error, clientId }, 'could not count a queued message out'));
  }

  async resetQueued(clientId: string, options: { onlyIfGone?: boolean } = {}): Promise<void> {
    await this.#redis.eval(RESET_QUEUED, 3, key('queued', clientId), key('queued-tenant', tenantOfClientId(clientId)), outgoingKey(clientId),
      options.onlyIfGone ? 1 : 0);
  }

  async claimSession(tenant: string, clientId: string, cap: number): Promise<SessionVerdict> {
    const answer = await this.#redis.eval(CLAIM_SESSION, 2, key('sessions', tenant), 'clients', clientId, cap) as number;
    return answer === 0 ? 'ok' : 'persistentSessionsPerTenant';
  }

  async sessionCleaned(clientId: string): Promise<void> {
    const tenant = tenantOfClientId(clientId);
    await this.#redis.eval(SESSION_CLEANED, 4, key('queued', clientId), key('queued-tenant', tenant), outgoingKey(clientId), key('sessions', tenant),
      0, clientId);
  }

  // The clocks of persistent sessions whose clients are away: one sorted set, score = when the
  // client left, shared by the nodes (a node's sweep also expires sessions left on a dead node).
  async sessionLeft(clientId: string, at: number): Promise<void> {
    await this.#redis.zadd(SESSIONS_AWAY_KEY, at, clientId);
  }

  async sessionBack(clientId: string): Promise<void> {
    await this.#redis.zrem(SESSIONS_AWAY_KEY, clientId);
  }

  async sessionsAwaySince(before: number, limit: number): Promise<readonly string[]> {
    return this.#redis.zrangebyscore(SESSIONS_AWAY_KEY, '-inf', before, 'LIMIT', 0, limit);
  }

  // A tenant counter can only drift upwards (a queue dropped whole by aedes behind our back):
  // when it says "full", it is rebuilt from the tenant's queues, in the background, throttled.
  #recountTenant(tenant: string): void {
    const now = Date.now();
    if (now - (this.#tenantRecountedAt.get(tenant) ?? 0) < TENANT_RECOUNT_INTERVAL_MS) return;
    this.#tenantRecountedAt.set(tenant, now);
    void (async () => {
      const clientIds = (await this.#redis.smembers('clients')).filter((id) => id.startsWith(`${tenant}_`));
      const lengths = await Promise.all(clientIds.map((id) => this.#redis.llen(outgoingKey(id))));
      await this.#redis.set(key('queued-tenant', tenant), lengths.reduce((sum, length) => sum + length, 0));
    })().catch((error: unknown) => this.#logger.debug({ err: error, tenant }, 'could not recount a tenant\'s queued messages'));
  }
}
