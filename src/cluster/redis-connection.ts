import { Redis, type RedisOptions } from 'ioredis';

/** Longest wait between two reconnection attempts: a Redis that comes back is found within it. */
export const MAX_RECONNECT_DELAY_MS = 2_000;

// Names and prefixes become Redis channel patterns and CLIENT SETNAME arguments: no glob
// characters (`* ? [ ] \`), no MQTT wildcards or level separator, no spaces.
const PREFIX_PATTERN = /^[A-Za-z0-9._:-]{0,64}$/;

export const assertRedisPrefix = (prefix: string, what: string): void => {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(`${what} "${prefix}" may hold only letters, digits and . _ : - (at most 64 characters).`);
  }
};

/** A client name Redis accepts (CLIENT SETNAME refuses spaces and newlines), bounded. */
export const redisClientName = (...parts: string[]): string =>
  parts.join(':').replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 128);

/** The URL without its password, for logs and error messages. */
export const describeRedisUrl = (url: string): string => {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable Redis URL)';
  }
};

// 100 ms, 200 ms, … capped at MAX_RECONNECT_DELAY_MS, for ever: a node outlives a Redis restart.
const reconnectDelay = (attempt: number): number => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS);

/**
 * One ioredis connection with trustgate's defaults: nothing happens until the first command or
 * `connect()` (build, then start: a factory does no I/O), bounded reconnection backoff, a connect timeout, a client name
 * an operator can find in CLIENT LIST. Callers attach their own 'error' listener.
 */
export const createRedisConnection = (url: string, options: RedisOptions & { readonly connectionName: string }): Redis =>
  new Redis(url, {
    lazyConnect: true,
    retryStrategy: reconnectDelay,
    connectTimeout: 5_000,
    // How long disconnect() waits for a socket to close before destroying it; the timer also
    // outlives close() when Redis was already gone.
    disconnectTimeout: 500,
    // Queued commands fail after this many reconnection attempts (~21 s with the backoff above)
    // unless a caller overrides it.
    maxRetriesPerRequest: 20,
    ...options,
  });

/**
 * Closes a connection without waiting on a Redis that is gone: QUIT (which flushes what is
 * queued) only when connected, bounded; then DISCONNECT, which also stops reconnecting.
 */
export const closeRedisConnection = async (connection: Redis, quitBoundMs = 1_000): Promise<void> => {
  if (connection.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      connection.quit().catch(() => undefined),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, quitBoundMs); }),
    ]).finally(() => clearTimeout(timer));
  }
  if (connection.status !== 'end') connection.disconnect();
};

/**
 * The same connection, but every command's promise is observed. aedes-persistence-redis and
 * mqemitter-redis leave some of theirs unobserved (putWill's LREM/RPUSH, close's QUIT): when
 * Redis is gone such a promise rejects, and an unobserved rejection ends a Node process. Callers
 * still get the original promise and see its rejection.
 */
export const withObservedRejections = (connection: Redis): Redis => {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(connection, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      let wrapper = wrapped.get(property);
      if (!wrapper || (wrapper as { original?: unknown }).original !== value) {
        const original = value as (...args: unknown[]) => unknown;
        wrapper = Object.assign((...args: unknown[]) => {
          const result = original.apply(target, args);
          if (result instanceof Promise) result.catch(() => undefined);
          return result;
        }, { original });
        wrapped.set(property, wrapper);
      }
      return wrapper;
    },
  });
};
