import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { closeRedisConnection, createRedisConnection, describeRedisUrl, redisClientName } from './redis-connection.ts';

/** Longest a rate-limit count may take before the request goes on with this node's count. */
export const RATE_LIMIT_COMMAND_TIMEOUT_MS = 250;

export interface RateLimitRedis {
  /** The connection the REST rate limits count on (@fastify/rate-limit's RedisStore). */
  readonly connection: Redis;
  /** Opens the connection; a Redis that is down is no reason not to start (decision 0024). */
  start(): Promise<void>;
  close(): Promise<void>;
}

// The REST rate limits' own connection (decision 0024), built to fail fast: without the offline
// queue a count fails at once while Redis is away, and a command timeout bounds a Redis that hangs,
// so an API call never waits for Redis; the limiter then counts on this node until Redis is back
// (src/http/rate-limit-store.ts). ioredis keeps reconnecting in the background.
export const createRateLimitRedis = ({ url, nodeId, logger }: { readonly url: string; readonly nodeId: string; readonly logger: Logger }): RateLimitRedis => {
  const connection = createRedisConnection(url, {
    connectionName: redisClientName('trustgate', nodeId, 'rate-limits'),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: RATE_LIMIT_COMMAND_TIMEOUT_MS,
  });
  // The store logs the outage once (per outage); connection errors are that outage's detail.
  connection.on('error', (error: Error) => logger.debug({ err: error }, 'rate limit Redis connection error'));
  return {
    connection,
    async start() {
      try {
        await connection.connect();
      } catch (error) {
        logger.warn({ err: error, redis: describeRedisUrl(url) }, 'rate limit counters: Redis unreachable at start, counting on this node until it answers');
      }
    },
    close: () => closeRedisConnection(connection),
  };
};
