import { closeRedisConnection, createRedisConnection, redisClientName } from './redis-connection.ts';

/** One PING's outcome: its round trip, or why there was none. */
export type RedisProbeResult = { readonly isUp: true; readonly seconds: number } | { readonly isUp: false; readonly error: string };

export interface RedisProbe {
  /** Whether the probe's connection is up now (no I/O): turns false the moment Redis drops it. */
  isConnected(): boolean;
  /** One PING, bounded by `timeoutMs`; never rejects. */
  ping(timeoutMs: number): Promise<RedisProbeResult>;
  close(): Promise<void>;
}

// A connection of its own for the metrics' Redis check, so a PING measures Redis and not the queue
// behind the backplane's traffic. Without the offline queue a PING fails at once while the
// connection is down, instead of waiting for the reconnection.
export const createRedisProbe = ({ url, nodeId }: { readonly url: string; readonly nodeId: string }): RedisProbe => {
  const connection = createRedisConnection(url, {
    connectionName: redisClientName('trustgate', nodeId, 'probe'),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
  });
  // Errors are the probe's answer (ping), not events to crash on.
  connection.on('error', () => undefined);
  let isClosed = false;
  return {
    isConnected: () => connection.status === 'ready',
    async ping(timeoutMs) {
      if (isClosed) return { isUp: false, error: 'closed' };
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          (async () => {
            // The first probe opens the connection; ioredis keeps it open (and reconnects) after.
            if (connection.status === 'wait') await connection.connect();
            await connection.ping();
          })(),
          new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); }),
        ]);
        return { isUp: true, seconds: (performance.now() - started) / 1000 };
      } catch (error) {
        return { isUp: false, error: (error as Error).message };
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      isClosed = true;
      await closeRedisConnection(connection);
    },
  };
};
