import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { TcpOutageProxy } from './tcp-proxy.ts';
import { testServiceUrls } from './test-services.ts';

// Helpers for tests against the shared Redis (127.0.0.1:6379 here and in CI). Other test files use
// it at the same time: every test works under its own random prefix, deletes only its own keys and
// kills only connections it can name. Never FLUSHDB.

export const TEST_REDIS_URL = testServiceUrls.redis;

/** A prefix no other test uses: `test:<label>:<random>:` (only characters the prefixes accept). */
export const uniqueRedisPrefix = (label: string): string => `test:${label}:${randomBytes(6).toString('hex')}:`;

/** A plain connection for the test itself (CLIENT LIST/KILL, raw PUBLISH, SCAN). */
export const redisAdmin = (): Redis => {
  const admin = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  admin.on('error', () => undefined);
  return admin;
};

interface ClientInfo {
  readonly id: string;
  readonly name: string;
}

const clientList = async (admin: Redis): Promise<ClientInfo[]> => {
  const text = await admin.client('LIST') as string;
  return text.split('\n').filter(Boolean).map((line) => {
    const fields = new Map(line.split(' ').map((pair) => {
      const at = pair.indexOf('=');
      return [pair.slice(0, at), pair.slice(at + 1)] as const;
    }));
    return { id: fields.get('id') ?? '', name: fields.get('name') ?? '' };
  });
};

/** Names of the connected clients whose name starts with `prefix`. */
export const clientNamesUnder = async (admin: Redis, prefix: string): Promise<string[]> =>
  (await clientList(admin)).map((client) => client.name).filter((name) => name.startsWith(prefix));

/** CLIENT KILL ID for every client whose name satisfies `matches`; answers how many were killed. */
export const killClients = async (admin: Redis, matches: (name: string) => boolean): Promise<number> => {
  let killed = 0;
  for (const client of await clientList(admin)) {
    if (client.name && matches(client.name)) killed += Number(await admin.client('KILL', 'ID', client.id));
  }
  return killed;
};

/** Every key under `prefix` (SCAN, never KEYS). */
export const keysUnder = async (admin: Redis, prefix: string): Promise<string[]> => {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
};

export const deleteKeysUnder = async (admin: Redis, prefix: string): Promise<void> => {
  const keys = await keysUnder(admin, prefix);
  if (keys.length > 0) await admin.del(...keys);
};

// One wait-until for every test (the cluster tests import it from here).
export { waitUntil } from './wait-until.ts';

/** A cuttable TCP proxy (tcp-proxy.ts) in front of the test Redis; `url` is the URL through it. */
export class RedisOutageProxy extends TcpOutageProxy {
  constructor(targetUrl = TEST_REDIS_URL) {
    const url = new URL(targetUrl);
    super({ host: url.hostname, port: Number(url.port || 6379) });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
}
