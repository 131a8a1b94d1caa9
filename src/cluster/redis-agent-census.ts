import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

// Connected agents per tenant, over the nodes of a cluster (structurally the mqtt module's
// AgentCensus, src/mqtt/agents-per-tenant.ts). Each node writes its own counts to a hash that
// expires unless rewritten (`<prefix>limits:agents:<node>`), every REPORT_INTERVAL_MS, and reads
// the other nodes' hashes in the same round: a CONNECT reads only the sums held here, never
// Redis. The nodes' hashes are found through one sorted set (`<prefix>limits:agentNodes`, scored
// by when each node's entry expires, in Redis' own clock), not by SCAN: a SCAN walks the whole
// keyspace, which in a cluster holds every persistent session's keys (hundreds of round trips per
// report, per node, every two seconds). The cap (TRUSTGATE_MQTT_MAX_AGENTS_PER_TENANT) therefore holds across nodes to within
// what connects to the other nodes in one interval; a dead node's counts vanish with its key.

export const REPORT_INTERVAL_MS = 2_000;
const KEY_TTL_MS = 3 * REPORT_INTERVAL_MS;

export class RedisAgentCensus {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #nodeKey: string;
  readonly #nodesKey: string;
  readonly #logger: Logger;
  #others = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #ownCounts: () => ReadonlyMap<string, number> = () => new Map();

  /** `redis`: a connection without a key prefix; `nodeKey`: unique per broker process. */
  constructor(redis: Redis, prefix: string, nodeKey: string, logger: Logger) {
    this.#redis = redis;
    this.#prefix = `${prefix}limits:agents:`;
    this.#nodeKey = `${this.#prefix}${nodeKey}`;
    this.#nodesKey = `${prefix}limits:agentNodes`;
    this.#logger = logger;
  }

  othersConnected(tenant: string): number {
    return this.#others.get(tenant) ?? 0;
  }

  async start(ownCounts: () => ReadonlyMap<string, number>): Promise<void> {
    this.#ownCounts = ownCounts;
    this.#timer = setInterval(() => void this.report().catch((error: unknown) => this.#logger.debug({ err: error }, 'could not exchange the connected agent counts')), REPORT_INTERVAL_MS);
    this.#timer.unref();
    await this.report();
  }

  /** Writes this node's counts and reads the others' (one round; also for tests). */
  async report(): Promise<void> {
    const own = [...this.#ownCounts()].flatMap(([tenant, count]) => [tenant, String(count)]);
    const [seconds, micros] = await this.#redis.time();
    const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const write = this.#redis.multi().del(this.#nodeKey);
    if (own.length > 0) write.hset(this.#nodeKey, ...own).pexpire(this.#nodeKey, KEY_TTL_MS);
    write.zadd(this.#nodesKey, nowMs + KEY_TTL_MS, this.#nodeKey).zremrangebyscore(this.#nodesKey, '-inf', nowMs)
      .pexpire(this.#nodesKey, KEY_TTL_MS).zrange(this.#nodesKey, 0, -1);
    const results = await write.exec();
    const [error, members] = results?.at(-1) ?? [new Error('the census transaction was discarded'), []];
    if (error) throw error;
    const keys = (members as string[]).filter((key) => key !== this.#nodeKey);
    const read = this.#redis.pipeline();
    for (const key of keys) read.hgetall(key);
    const hashes = keys.length === 0 ? [] : (await read.exec() ?? []).map(([failure, hash]) => (failure ? {} : hash as Record<string, string>));
    const others = new Map<string, number>();
    for (const hash of hashes) {
      for (const [tenant, count] of Object.entries(hash)) others.set(tenant, (others.get(tenant) ?? 0) + (Number(count) || 0));
    }
    this.#others = others;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#redis.multi().del(this.#nodeKey).zrem(this.#nodesKey, this.#nodeKey).exec().catch(() => undefined);
  }
}
