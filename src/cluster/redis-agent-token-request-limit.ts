import type { Redis } from 'ioredis';
import type { AgentTokenRequestLimit } from '../registry/index.ts';

// Issue 19 part 1: "at most one request per agent per minute", held across the nodes of a cluster
// (an agent that reconnects to another node within the minute is still refused). One key per
// agent that expires with its window: `SET … NX PX` takes the slot atomically; the loser reads
// how long the key has left for its retry time.
export class RedisAgentTokenRequestLimit implements AgentTokenRequestLimit {
  readonly #redis: Redis;
  readonly #prefix: string;

  /** `redis`: a connection without a key prefix (the names here are whole). */
  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = `${prefix}limits:agent-token:`;
  }

  async take(key: string, windowMs: number, now: Date): Promise<Date | undefined> {
    const name = this.#prefix + key;
    if (await this.#redis.set(name, '1', 'PX', windowMs, 'NX') === 'OK') return undefined;
    const leftMs = await this.#redis.pttl(name);
    // Expired between the two commands (-2) or without expiry (-1, never written so): free now, next time.
    return new Date(now.getTime() + (leftMs > 0 ? leftMs : 1000));
  }
}
