import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { RedisProbe } from '../cluster/index.ts';
import type { ReadinessReport } from '../http/index.ts';
import type { Database } from '../storage/index.ts';

/** How often the database (and Redis, in a cluster) is probed for the metrics. */
export const DEPENDENCY_PROBE_INTERVAL_MS = 5_000;
const PROBE_TIMEOUT_MS = 2_000;
// A healthy `select 1` or PING takes well under a millisecond on a LAN; an outage hits the timeout.
const PROBE_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The commit of a git checkout trustgate runs from, or undefined (an npm install has no .git). */
const commitFromGit = (): Promise<string | undefined> => new Promise((resolve) => {
  execFile('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: PACKAGE_ROOT, timeout: 2_000 }, (error, stdout) => {
    const commit = stdout?.trim();
    resolve(!error && /^[0-9a-f]{7,40}$/.test(commit) ? commit : undefined);
  });
});

const bounded = async <T>(work: Promise<T>, timeoutMs: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

export interface AppMetricsOptions {
  readonly registry: Registry;
  readonly db: Kysely<Database>;
  /** Only in a cluster (TRUSTGATE_REDIS_URL): without Redis there are no Redis series. */
  readonly redis: RedisProbe | undefined;
  /** What /readyz answers (the same function), read at each scrape. */
  readonly readiness: () => Promise<ReadinessReport>;
  /** Whether the node is draining for shutdown (what /readyz's `node` check reports). */
  readonly isDraining: () => boolean;
  /** TRUSTGATE_BUILD_COMMIT; unset = git, else `unknown`. */
  readonly buildCommit: string | undefined;
  readonly logger: Logger;
  readonly probeIntervalMs?: number;
}

export interface RunningAppMetrics {
  close(): Promise<void>;
}

// The node-level families: build info, readiness and draining, and its dependencies' health
// from a cheap periodic probe (`select 1`, PING) rather than at scrape time, so a scrape never
// waits on a database that hangs and an outage shows without anyone calling /readyz.
export const startAppMetrics = async (options: AppMetricsOptions): Promise<RunningAppMetrics> => {
  const { registry, db, redis, logger } = options;
  const commit = options.buildCommit ?? await commitFromGit() ?? 'unknown';
  new Gauge({
    name: 'trustgate_build_info',
    help: 'Always 1; the labels say which trustgate runs: version, commit, Node.js and OpenSSL versions',
    labelNames: ['version', 'commit', 'node_version', 'openssl_version'] as const,
    registers: [registry],
  }).labels(version, commit, process.versions.node, process.versions.openssl).set(1);
  new Gauge({
    name: 'trustgate_ready',
    help: '1 when /readyz answers 200 (database reachable, cluster bus connected, not draining), else 0',
    registers: [registry],
    async collect() {
      this.set((await options.readiness()).isReady ? 1 : 0);
    },
  });
  new Gauge({
    name: 'trustgate_draining',
    help: '1 from SIGTERM on, while the node refuses new work and moves its clients away, else 0',
    registers: [registry],
    collect() {
      this.set(options.isDraining() ? 1 : 0);
    },
  });

  const databaseUp = new Gauge({
    name: 'trustgate_database_up', help: '1 when the last database probe (select 1, every 5 s, 2 s timeout) answered, else 0', registers: [registry],
  });
  const databaseSeconds = new Histogram({
    name: 'trustgate_database_probe_duration_seconds', help: 'Round trip of the periodic database probe (select 1) that answered',
    buckets: PROBE_BUCKETS_SECONDS, registers: [registry],
  });
  let isRedisUp = false;
  const redisSeconds = redis && new Histogram({
    name: 'trustgate_redis_probe_duration_seconds', help: 'Round trip of the periodic Redis probe (PING) that answered (cluster only)',
    buckets: PROBE_BUCKETS_SECONDS, registers: [registry],
  });
  if (redis) {
    new Gauge({
      name: 'trustgate_redis_up',
      help: '1 while the last Redis probe (PING, every 5 s, 2 s timeout) answered and its connection is still up, else 0 (cluster only)',
      registers: [registry],
      // A dropped connection shows at the next scrape, not only after the next probe.
      collect() {
        this.set(isRedisUp && redis.isConnected() ? 1 : 0);
      },
    });
  }

  const logged = { database: true, redis: true };
  const note = (what: 'database' | 'redis', isUp: boolean, error?: string) => {
    if (logged[what] === isUp) return;
    logged[what] = isUp;
    if (isUp) logger.info({ dependency: what }, 'metrics probe: reachable again');
    else logger.warn({ dependency: what, err: error }, 'metrics probe: unreachable');
  };
  const probe = async (): Promise<void> => {
    const started = performance.now();
    try {
      await bounded(sql`select 1`.execute(db), PROBE_TIMEOUT_MS);
      databaseSeconds.observe((performance.now() - started) / 1000);
      databaseUp.set(1);
      note('database', true);
    } catch (error) {
      databaseUp.set(0);
      note('database', false, (error as Error).message);
    }
    if (redis && redisSeconds) {
      const answer = await redis.ping(PROBE_TIMEOUT_MS);
      isRedisUp = answer.isUp;
      if (answer.isUp) redisSeconds.observe(answer.seconds);
      note('redis', answer.isUp, answer.isUp ? undefined : answer.error);
    }
  };

  await probe();
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    // One probe at a time: a hanging dependency must not pile them up.
    running ??= probe().finally(() => { running = undefined; });
  }, options.probeIntervalMs ?? DEPENDENCY_PROBE_INTERVAL_MS);
  timer.unref();
  return {
    async close() {
      clearInterval(timer);
      await running;
      await redis?.close();
    },
  };
};
