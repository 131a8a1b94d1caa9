import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

// aedes-persistence-redis loads every persistent session's subscriptions in its setup() (hash
// `client:<id>` per client listed in the set `clients`, msgpack values) and throws on one it cannot
// decode: then no node of the cluster can start until the key is removed by hand. The repair here
// removes exactly those values (a subscription that cannot be read is lost anyway) so setup() can
// run again.

// msgpack-lite as aedes-persistence-redis resolves it: the decoder its setup() uses.
const requireAsPersistence = createRequire(createRequire(import.meta.url).resolve('aedes-persistence-redis'));
const msgpack = requireAsPersistence('msgpack-lite') as { decode(buffer: Buffer): unknown };

const MAX_SHOWN = 200;

const readable = (value: Buffer): boolean => {
  try {
    const decoded = msgpack.decode(value);
    // setup() assigns `clientId` on it: anything but an object throws (strict mode).
    return typeof decoded === 'object' && decoded !== null && !Array.isArray(decoded);
  } catch {
    return false;
  }
};

/** Removes the stored subscriptions setup() cannot read (`sessions` has the backplane's key prefix); answers how many. */
export const dropMalformedStoredSubscriptions = async (sessions: Redis, log: Logger): Promise<number> => {
  let dropped = 0;
  for (const clientId of await sessions.smembers('clients')) {
    const key = `client:${encodeURIComponent(clientId)}`;
    const subscriptions = await sessions.hgetallBuffer(key);
    for (const [filter, value] of Object.entries(subscriptions)) {
      if (readable(value)) continue;
      await sessions.hdel(key, filter);
      dropped++;
      log.error({ clientId: clientId.slice(0, MAX_SHOWN), filter: filter.slice(0, MAX_SHOWN), bytes: value.length },
        'removed a stored subscription that cannot be read from Redis (the persistent session keeps its other subscriptions)');
    }
  }
  return dropped;
};
