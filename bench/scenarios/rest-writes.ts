import { join } from 'node:path';
import type { RestResult } from '../lib/jobs.ts';
import { measureUndisturbed, sampleProcess, watchOtherCpu } from '../lib/processes.ts';
import { seedDataDir } from '../lib/seed-data-dir.ts';
import { percentile, round } from '../lib/stats.ts';
import { startTrustgate } from '../lib/trustgate-server.ts';
import { withPool, type WorkerPool } from '../lib/worker-pool.ts';

export interface RestWritesOptions {
  /** Write flows in flight (upload + registration code + verify), over `workers` processes. */
  readonly concurrency: number;
  readonly workers: number;
  /** Write flows in all: one new tenant each (a tenant holds at most 2 CAs). */
  readonly flows: number;
  /** GET /caCertificates in flight beside them (one process), over tenants that have 2 CAs each. */
  readonly readers: number;
  readonly readerTenants: number;
  /** How long the readers run alone (calm). */
  readonly calmSeconds: number;
  readonly budgetMs: number;
}

export interface LatencyFigures {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface ReadFigures extends LatencyFigures {
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly failures: number;
  /** Alone only: other programs' CPU meanwhile. */
  readonly otherCpuSeconds?: number;
  readonly otherCpuTop?: readonly string[];
}

export interface RestWritesFigures {
  readonly writes: {
    readonly flows: number;
    readonly failures: number;
    readonly failureSamples: readonly string[];
    readonly seconds: number;
    readonly flowsPerSecond: number;
    /** Whole flows: upload + registration code + verify. */
    readonly flow: LatencyFigures;
    readonly byCall: Readonly<Record<string, LatencyFigures>>;
  };
  /** GET /caCertificates alone. */
  readonly readsCalm: ReadFigures;
  /** The same readers while the writes run. */
  readonly readsDuringWrites: ReadFigures;
  readonly readP99Ratio: number;
  /** The server's event loop delay over the writes (prom-client's monitor): how long it stood still. */
  readonly eventLoopDelay: { readonly p99Ms: number; readonly maxMs: number };
  readonly serverCpuSeconds: number;
  readonly serverCpuShare: number;
  readonly seconds: number;
  readonly otherCpuSeconds: number;
  readonly otherCpuTop: readonly string[];
}

const latencyOf = (values: readonly number[]): LatencyFigures => ({ count: values.length, p50Ms: round(percentile(values, 0.5)), p99Ms: round(percentile(values, 0.99)) });

const readFigures = (results: readonly RestResult[]): ReadFigures => {
  const values = results.flatMap((r) => r.latenciesMs.list ?? []);
  const seconds = (Math.max(...results.map((r) => r.endMs)) - Math.min(...results.map((r) => r.startMs))) / 1000;
  return { ...latencyOf(values), seconds: round(seconds, 3), requestsPerSecond: round(values.length / seconds, 0), failures: results.reduce((sum, r) => sum + r.failures, 0) };
};

const share = (total: number, parts: number, p: number): number => Math.floor(total / parts) + (p < total % parts ? 1 : 0);

// Scenario 11 (issue 18 part 5): 50 concurrent REST write flows on the embedded SQLite (each write
// commits with an fsync, synchronous=FULL) and, beside them, GET /caCertificates from one more
// process: how long a flow and each call take, and how much the writes stall the readers (their
// p99 beside the same readers alone). A fresh trustgate; the readers' tenants get 2 CAs each
// before start; each write flow is a new tenant's first CA. A warm-up of both comes first.
export const runRestWrites = async (
  options: RestWritesOptions, setup: { readonly workDir: string; readonly log: (line: string) => void },
): Promise<RestWritesFigures> => {
  const dataDir = join(setup.workDir, 'rest-writes');
  const readerTenants = Array.from({ length: options.readerTenants }, (_, i) => `read-${String(i).padStart(5, '0')}`);
  await seedDataDir(dataDir, readerTenants.map((tenant) => ({ tenant })));
  const server = await startTrustgate('trustgate (REST writes)', dataDir);
  try {
    const tenantsNamed = (prefix: string, count: number) => Promise.all(Array.from({ length: count }, async (_, i) => {
      const tenant = `${prefix}-${String(i).padStart(5, '0')}`;
      return { tenant, token: await server.token(tenant) };
    }));
    const writers = await tenantsNamed('write', options.flows);
    const warmupWriters = await tenantsNamed('write-warmup', Math.min(100, options.flows));
    const readerTokens = await Promise.all(readerTenants.map((tenant) => server.token(tenant)));
    const workers = Math.min(options.workers, options.concurrency);
    const writeJobs = (list: typeof writers) => Array.from({ length: workers }, (_, p) => ({
      kind: 'rest-register' as const, apiUrl: server.apiUrl, tenants: list.filter((_, i) => i % workers === p),
      concurrency: share(options.concurrency, workers, p), budgetMs: options.budgetMs,
    }));
    const readJob = (seconds: number) => ({ kind: 'rest-list' as const, apiUrl: server.apiUrl, tokens: readerTokens, concurrency: options.readers, seconds });
    // Writers on processes 0…workers−1, the readers on the last; the readers stop when the writers are done.
    const together = (pool: WorkerPool, list: typeof writers) => pool.run<RestResult>([...writeJobs(list), readJob(options.budgetMs / 1000)], {
      timeoutMs: options.budgetMs + 30_000,
      afterGo: (done) => {
        void Promise.all(done.slice(0, workers)).finally(() => pool.processes[workers]!.send({ type: 'stop' })).catch(() => undefined);
      },
    });
    return await withPool(workers + 1, async (pool) => {
      await together(pool, warmupWriters);
      // The readers alone can be taken again when other programs disturbed them (--quiet-wait); the writes
      // cannot (they register their tenants' CAs).
      const calm = await measureUndisturbed('REST readers alone', async () => {
        const watch = await watchOtherCpu();
        const figures = readFigures(await pool.run<RestResult>([readJob(options.calmSeconds)], { timeoutMs: options.calmSeconds * 1000 + 30_000 }));
        const other = await watch([server.pid, ...pool.processes.map((p) => p.child.pid ?? 0)]);
        return { ...figures, otherCpuSeconds: round(other.seconds), otherCpuTop: other.top };
      });
      setup.log(`REST writes: readers alone ${calm.requestsPerSecond}/s, p50/p99 ${calm.p50Ms}/${calm.p99Ms} ms`);
      const watch = await watchOtherCpu();
      await server.eventLoopDelay();
      const before = await sampleProcess(server.pid);
      const results = await together(pool, writers);
      const after = await sampleProcess(server.pid);
      const eventLoopDelay = await server.eventLoopDelay();
      const other = await watch([server.pid, ...pool.processes.map((p) => p.child.pid ?? 0)]);
      const written = results.slice(0, workers);
      const reads = readFigures(results.slice(workers));
      const byName: Record<string, number[]> = {};
      for (const result of written) for (const [name, values] of Object.entries(result.latenciesMs)) (byName[name] ??= []).push(...values);
      const flows = written.flatMap((r) => r.flowLatenciesMs);
      const seconds = (Math.max(...written.map((r) => r.endMs)) - Math.min(...written.map((r) => r.startMs))) / 1000;
      const serverCpuSeconds = after.cpuSeconds - before.cpuSeconds;
      const figures: RestWritesFigures = {
        writes: {
          flows: flows.length, failures: written.reduce((sum, r) => sum + r.failures, 0), failureSamples: written.flatMap((r) => r.failureSamples).slice(0, 5),
          seconds: round(seconds, 3), flowsPerSecond: round(flows.length / seconds, 1), flow: latencyOf(flows),
          byCall: Object.fromEntries(Object.entries(byName).map(([name, values]) => [name, latencyOf(values)])),
        },
        readsCalm: calm, readsDuringWrites: reads, readP99Ratio: round(reads.p99Ms / calm.p99Ms, 2),
        eventLoopDelay: { p99Ms: round(eventLoopDelay.p99Ms, 1), maxMs: round(eventLoopDelay.maxMs, 1) },
        serverCpuSeconds: round(serverCpuSeconds, 3), serverCpuShare: round(serverCpuSeconds / ((after.atMs - before.atMs) / 1000)),
        seconds: round((after.atMs - before.atMs) / 1000, 3), otherCpuSeconds: round(other.seconds), otherCpuTop: other.top,
      };
      setup.log(`REST writes: ${figures.writes.flowsPerSecond} flows/s, flow p50/p99 ${figures.writes.flow.p50Ms}/${figures.writes.flow.p99Ms} ms, ` +
        `${figures.writes.failures} failed${figures.writes.failures ? ` (${figures.writes.failureSamples[0]})` : ''}; readers meanwhile ${reads.requestsPerSecond}/s, p50/p99 ${reads.p50Ms}/${reads.p99Ms} ms; ` +
        `event loop delay p99/max ${figures.eventLoopDelay.p99Ms}/${figures.eventLoopDelay.maxMs} ms`);
      return figures;
    });
  } finally {
    await server.stop();
  }
};
