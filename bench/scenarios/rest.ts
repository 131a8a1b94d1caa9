import type { RestResult } from '../lib/jobs.ts';
import { measureUndisturbed, sampleProcess, watchOtherCpu } from '../lib/processes.ts';
import { percentile, round } from '../lib/stats.ts';
import type { TrustgateServer } from '../lib/trustgate-server.ts';
import { withPool, type WorkerPool } from '../lib/worker-pool.ts';

export interface RestOptions {
  readonly concurrency: number;
  readonly workers: number;
  /** Tenants that each upload, fetch the registration code and verify one CA. */
  readonly registrations: number;
  readonly listSeconds: number;
  readonly budgetMs: number;
}

export interface RestFigures {
  readonly requests: number;
  readonly failures: number;
  readonly failureSamples: readonly string[];
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** upload + code + verify flows per second (= CAs registered and verified per second). */
  readonly flowsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly byRequest: Record<string, { readonly count: number; readonly p50Ms: number; readonly p99Ms: number }>;
  readonly serverCpuSeconds: number;
  readonly cpuMsPerRequest: number;
  readonly otherCpuSeconds: number;
  readonly otherCpuTop: readonly string[];
}

const summarize = async (server: TrustgateServer, pool: WorkerPool, run: () => Promise<RestResult[]>): Promise<RestFigures> => {
  const watch = await watchOtherCpu();
  const before = await sampleProcess(server.pid);
  const results = await run();
  const after = await sampleProcess(server.pid);
  const other = await watch([server.pid, ...pool.processes.map((p) => p.child.pid ?? 0)]);
  const byName: Record<string, number[]> = {};
  for (const result of results) for (const [name, values] of Object.entries(result.latenciesMs)) (byName[name] ??= []).push(...values);
  const all = Object.values(byName).flat();
  const seconds = (Math.max(...results.map((r) => r.endMs)) - Math.min(...results.map((r) => r.startMs))) / 1000;
  const serverCpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return {
    requests: all.length,
    failures: results.reduce((sum, r) => sum + r.failures, 0),
    failureSamples: results.flatMap((r) => r.failureSamples).slice(0, 5),
    seconds: round(seconds, 2),
    requestsPerSecond: round(all.length / seconds, 0),
    flowsPerSecond: round(results.reduce((sum, r) => sum + r.flows, 0) / seconds, 1),
    p50Ms: round(percentile(all, 0.5)),
    p99Ms: round(percentile(all, 0.99)),
    byRequest: Object.fromEntries(Object.entries(byName).map(([name, values]) =>
      [name, { count: values.length, p50Ms: round(percentile(values, 0.5)), p99Ms: round(percentile(values, 0.99)) }])),
    serverCpuSeconds: round(serverCpuSeconds),
    cpuMsPerRequest: round(serverCpuSeconds * 1000 / all.length, 3),
    otherCpuSeconds: round(other.seconds),
    otherCpuTop: other.top,
  };
};

const share = (total: number, parts: number, p: number): number => Math.floor(total / parts) + (p < total % parts ? 1 : 0);

// The MindConnect REST path at a fixed concurrency (`concurrency` requests in flight, spread over
// `workers` processes): first every tenant uploads a CA, fetches its registration code and verifies
// it with a fresh proof; then GET /caCertificates for `listSeconds` across those tenants.
export const runRest = async (server: TrustgateServer, options: RestOptions): Promise<{ register: RestFigures; list: RestFigures }> => {
  const tenantsNamed = (prefix: string, count: number) => Promise.all(Array.from({ length: count }, async (_, i) => {
    const tenant = `${prefix}-${String(i).padStart(5, '0')}`;
    return { tenant, token: await server.token(tenant) };
  }));
  const tenants = await tenantsNamed('rest', options.registrations);
  const warmup = await tenantsNamed('rest-warmup', Math.min(100, options.registrations));
  const workers = Math.min(options.workers, options.concurrency);
  const slicesOf = <T>(items: readonly T[]) => Array.from({ length: workers }, (_, p) => items.filter((_, i) => i % workers === p));
  const registerJobs = (list: typeof tenants) => slicesOf(list).map((slice, p) => ({
    kind: 'rest-register' as const, apiUrl: server.apiUrl, tenants: slice, concurrency: share(options.concurrency, workers, p), budgetMs: options.budgetMs,
  }));
  const listJobs = (list: typeof tenants, seconds: number) => slicesOf(list).map((slice, p) => ({
    kind: 'rest-list' as const, apiUrl: server.apiUrl, tokens: slice.map((t) => t.token), concurrency: share(options.concurrency, workers, p), seconds,
  }));
  return withPool(workers, async (pool) => {
    // Warm-up (not reported): the HTTP path has not run yet in this server, nor fetch in the load processes.
    await pool.run(registerJobs(warmup), { timeoutMs: options.budgetMs + 30_000 });
    await pool.run(listJobs(warmup, 1), { timeoutMs: 31_000 });
    const register = await summarize(server, pool, () => pool.run<RestResult>(registerJobs(tenants), { timeoutMs: options.budgetMs + 30_000 }));
    const list = await measureUndisturbed('REST GET /caCertificates',
      () => summarize(server, pool, () => pool.run<RestResult>(listJobs(tenants, options.listSeconds), { timeoutMs: options.listSeconds * 1000 + 30_000 })));
    return { register, list };
  });
};
