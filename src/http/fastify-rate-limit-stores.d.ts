// @fastify/rate-limit's two stores, which its package exports only through the plugin's own
// `redis` option; rate-limit-store.ts puts them behind one store (Redis, else this node's memory).
interface FastifyRateLimitStoreResult {
  readonly current: number;
  readonly ttl: number;
}
type FastifyRateLimitStoreCallback = (error: Error | null, result?: FastifyRateLimitStoreResult) => void;
interface FastifyRateLimitStoreInstance {
  incr(key: string, callback: FastifyRateLimitStoreCallback, timeWindowMs: number, max: number): void;
  read(key: string, callback: FastifyRateLimitStoreCallback, timeWindowMs: number, max: number): void;
}

declare module '@fastify/rate-limit/store/LocalStore.js' {
  const LocalStore: new (continueExceeding: boolean, exponentialBackoff: boolean, cacheEntries: number) => FastifyRateLimitStoreInstance;
  export default LocalStore;
}

declare module '@fastify/rate-limit/store/RedisStore.js' {
  const RedisStore: new (continueExceeding: boolean, exponentialBackoff: boolean, redis: unknown, keyPrefix: string) => FastifyRateLimitStoreInstance;
  export default RedisStore;
}
