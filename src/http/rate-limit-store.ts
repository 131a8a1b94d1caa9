import LocalStore from '@fastify/rate-limit/store/LocalStore.js';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

// Where the REST rate-limit counters live (decision 0024). One node: this process's memory
// (@fastify/rate-limit's LocalStore). A cluster: Redis (its RedisStore: one Lua INCR + PEXPIRE per
// call, atomic), so every node draws from one budget per tenant and route.
//
// Redis away: the API keeps serving and each node counts in its own memory until Redis answers
// again — the limit is then at most (nodes × limit), never unlimited, and never a refused call
// for want of a counter. The connection fails fast (no offline queue, a command timeout: see
// createRateLimitRedis), so a request does not wait on a Redis that is gone.

/** Counters kept in memory, per node: tenants × limited routes × windows; the least recently used go first. */
const LOCAL_COUNTER_ENTRIES = 100_000;

export interface RateLimitStoreOptions {
  /** The cluster's Redis (fail-fast connection), or undefined on a single node. */
  readonly redis: Redis | undefined;
  /** Key prefix in Redis (TRUSTGATE_REDIS_PREFIX + `rateLimit:`). */
  readonly keyPrefix: string;
  readonly logger: Logger;
  /** Counted while Redis cannot be used (trustgate_http_rate_limit_fallbacks_total). */
  readonly onFallback?: () => void;
}

/** A store class for @fastify/rate-limit's `store` option; every limiter shares the one instance
 *  (the keys name tenant, route and window: see rest-rate-limits.ts). */
export const rateLimitStore = ({ redis, keyPrefix, logger, onFallback }: RateLimitStoreOptions): FastifyRateLimitStoreCtor => {
  const local = new LocalStore(false, false, LOCAL_COUNTER_ENTRIES);
  const shared = redis ? new RedisStore(false, false, redis, keyPrefix) : undefined;
  let isRedisFailing = false;

  const call = (method: 'incr' | 'read', key: string, callback: Parameters<FastifyRateLimitStore['incr']>[1], windowMs: number, max: number): void => {
    if (!shared) {
      local[method](key, callback, windowMs, max);
      return;
    }
    shared[method](key, (error, result) => {
      if (!error) {
        if (isRedisFailing) logger.info('rate limit counters in Redis again: one budget for the cluster');
        isRedisFailing = false;
        callback(null, result);
        return;
      }
      // Logged once per outage, not per request: a busy API would otherwise log at its request rate.
      if (!isRedisFailing) logger.warn({ err: error }, 'rate limit counters unavailable in Redis: counting on this node until it answers (each node allows the full limit meanwhile)');
      isRedisFailing = true;
      onFallback?.();
      local[method](key, callback, windowMs, max);
    }, windowMs, max);
  };

  const store: FastifyRateLimitStore & Pick<FastifyRateLimitStoreInstance, 'read'> = {
    incr: (key, callback, windowMs, max) => call('incr', key, callback, windowMs, max),
    read: (key, callback, windowMs, max) => call('read', key, callback, windowMs, max),
    child: () => store,
  };
  // The plugin builds its store with `new`; a constructor that returns an object yields that object.
  return function SharedRateLimitStore() {
    return store;
  } as unknown as FastifyRateLimitStoreCtor;
};
