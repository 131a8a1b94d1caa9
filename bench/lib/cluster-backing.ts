import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

// What the cluster scenario (7) shares between its nodes: a fresh PostgreSQL database on the local
// server (trust auth) and a Redis key prefix of its own on the local Redis, both unique per run and
// removed at the end: the database dropped (WITH (FORCE)), the keys under the prefix deleted (SCAN,
// never FLUSHDB: the Redis is shared). Should the run end another way (time limit, Ctrl-C, an
// error past the scenario), an exit hook removes them with a short child process.

export const ADMIN_DATABASE_URL = 'postgres://root@127.0.0.1:5432/test';
export const REDIS_URL = 'redis://127.0.0.1:6379';
const CLEANUP_SCRIPT = join(import.meta.dirname, '..', 'cluster-cleanup.ts');
const TIMEOUT_MS = 15_000;

export interface ClusterBacking {
  readonly databaseName: string;
  /** For TRUSTGATE_DATABASE_URL. */
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** For TRUSTGATE_REDIS_PREFIX, e.g. bench:1a2b3c4d: */
  readonly redisPrefix: string;
  /** redis-server's pid (its INFO, checked in /proc), for its CPU; undefined when it cannot be read. */
  readonly redisPid: number | undefined;
  /** Drops the database and deletes the prefix's keys; idempotent. */
  remove(): Promise<{ readonly keysDeleted: number }>;
}

const adminClient = async (): Promise<pg.Client> => {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 10_000, query_timeout: TIMEOUT_MS });
  client.on('error', () => undefined);
  await client.connect();
  return client;
};

const redisClient = async (): Promise<Redis> => {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 1, retryStrategy: () => null, commandTimeout: TIMEOUT_MS });
  redis.on('error', () => undefined);
  await redis.connect();
  return redis;
};

const isRedisServer = async (pid: number): Promise<boolean> => {
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim().startsWith('redis-server');
  } catch {
    return false;
  }
};

/** INFO's process_id if /proc shows that pid as redis-server (same pid namespace), else the one redis-server listening on :6379. */
const findRedisPid = async (redis: Redis): Promise<number | undefined> => {
  const reported = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  if (Number.isInteger(reported) && await isRedisServer(reported)) return reported;
  const candidates: number[] = [];
  for (const name of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
    const pid = Number(name);
    if (!await isRedisServer(pid)) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (command.includes(':6379')) candidates.push(pid);
  }
  return candidates.length === 1 ? candidates[0] : undefined;
};

const quoteIdentifier = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Drops the database (if any) and unlinks every key under the prefix: SCAN in steps of 1,000, bounded in count and time. */
export const removeBacking = async (databaseName: string, redisPrefix: string): Promise<{ keysDeleted: number }> => {
  if (!/^tgbench_[0-9a-f]+$/.test(databaseName) || !/^bench:[0-9a-f]+:$/.test(redisPrefix)) throw new Error(`not a benchmark's database or prefix: ${databaseName} ${redisPrefix}`);
  const errors: string[] = [];
  try {
    const client = await adminClient();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(databaseName)} WITH (FORCE)`);
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    errors.push(`dropping database ${databaseName}: ${(error as Error).message}`);
  }
  let keysDeleted = 0;
  try {
    const redis = await redisClient();
    try {
      const deadline = performance.now() + TIMEOUT_MS;
      let cursor = '0';
      for (let step = 0; step < 10_000 && performance.now() < deadline; step++) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1_000);
        if (keys.length > 0) keysDeleted += await redis.unlink(...keys);
        cursor = next;
        if (cursor === '0') break;
      }
      if (cursor !== '0') errors.push(`Redis keys under ${redisPrefix}: not all deleted within the bound`);
    } finally {
      redis.disconnect();
    }
  } catch (error) {
    errors.push(`deleting Redis keys under ${redisPrefix}: ${(error as Error).message}`);
  }
  if (errors.length > 0) throw new Error(errors.join('; '));
  return { keysDeleted };
};

export const createClusterBacking = async (): Promise<ClusterBacking> => {
  const suffix = randomBytes(4).toString('hex');
  const databaseName = `tgbench_${suffix}`;
  const redisPrefix = `bench:${suffix}:`;
  const redis = await redisClient();
  let redisPid: number | undefined;
  try {
    redisPid = await findRedisPid(redis);
  } finally {
    redis.disconnect();
  }
  const client = await adminClient();
  try {
    await client.query(`CREATE DATABASE ${quoteIdentifier(databaseName)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  // From here on the database exists: whatever ends the run removes it.
  let removed: Promise<{ keysDeleted: number }> | undefined;
  const onExit = () => {
    if (removed) return;
    spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', CLEANUP_SCRIPT, databaseName, redisPrefix], { stdio: 'ignore', timeout: 2 * TIMEOUT_MS });
  };
  process.on('exit', onExit);
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${databaseName}`;
  return {
    databaseName, databaseUrl: url.toString(), redisUrl: REDIS_URL, redisPrefix, redisPid,
    remove: () => {
      removed ??= removeBacking(databaseName, redisPrefix).finally(() => process.off('exit', onExit));
      return removed;
    },
  };
};
