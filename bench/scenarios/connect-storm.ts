import { brokersOf, type BrokerKey, type BrokerTarget, type Targets } from '../lib/broker-target.ts';
import type { AgentIdentity, ConnectResult, Job, TlsInfo } from '../lib/jobs.ts';
import { measureUndisturbed, sampleProcess, sleep, watchOtherCpu, type OtherCpu, type ProcessSample } from '../lib/processes.ts';
import { concat, percentile, round } from '../lib/stats.ts';
import { split, withPool, WorkerPool } from '../lib/worker-pool.ts';

export interface ConnectOptions {
  readonly concurrencyPerWorker: number;
  readonly timeoutMs: number;
  readonly budgetMs: number;
  /** TLS key-exchange groups offered by the load generator (undefined = Node's default). */
  readonly ecdhCurve: string | undefined;
}

export interface ConnectFigures {
  readonly connects: number;
  readonly failures: number;
  readonly failureSamples: readonly string[];
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Broker CPU (user + system, all threads) over the pass and a short settle for the disconnects. */
  readonly brokerCpuSeconds: number;
  readonly cpuSecondsPer1000: number;
  /** Broker CPU seconds per wall second: ~1.0 means its one event loop was saturated. */
  readonly brokerCpuShare: number;
  /** Load generator CPU (all its processes) per connect: on a 2-core machine it competes with the broker. */
  readonly loadCpuMsPerConnect: number;
  readonly tls: TlsInfo | undefined;
  /** CPU seconds other programs on the machine used during the pass, and the busiest (see watchOtherCpu). */
  readonly otherCpuSeconds: number;
  readonly otherCpuTop: readonly string[];
}

const SETTLE_MS = 300;

const ownPids = (target: BrokerTarget, pool: WorkerPool): number[] => [target.pid, ...pool.processes.map((p) => p.child.pid ?? 0)];

const connectJobs = (target: BrokerTarget, agents: readonly AgentIdentity[], keyPem: string, options: ConnectOptions, processes: number, hold: boolean): Job[] =>
  split(agents, processes).map((slice) => ({
    kind: 'connect',
    endpoint: { ...target.endpoint, ecdhCurve: options.ecdhCurve },
    keyPem, agents: slice, concurrency: options.concurrencyPerWorker, hold, timeoutMs: options.timeoutMs, budgetMs: options.budgetMs,
  }));

const figuresOf = (results: readonly ConnectResult[], before: ProcessSample, after: ProcessSample, other: OtherCpu): ConnectFigures => {
  const startMs = Math.min(...results.map((r) => r.startMs));
  const endMs = Math.max(...results.map((r) => r.endMs));
  const latencies = concat(results.map((r) => r.latenciesMs));
  const connects = latencies.length;
  const seconds = (endMs - startMs) / 1000;
  const brokerCpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return {
    connects,
    failures: results.reduce((sum, r) => sum + r.failures, 0),
    failureSamples: results.flatMap((r) => r.failureSamples).slice(0, 5),
    seconds: round(seconds, 3),
    perSecond: round(connects / seconds, 1),
    p50Ms: round(percentile(latencies, 0.5)),
    p99Ms: round(percentile(latencies, 0.99)),
    brokerCpuSeconds: round(brokerCpuSeconds),
    cpuSecondsPer1000: round(brokerCpuSeconds * 1000 / connects, 3),
    brokerCpuShare: round(brokerCpuSeconds / ((after.atMs - before.atMs) / 1000)),
    loadCpuMsPerConnect: round(results.reduce((sum, r) => sum + r.cpuMs, 0) / connects, 3),
    tls: results.find((r) => r.tls)?.tls,
    otherCpuSeconds: round(other.seconds),
    otherCpuTop: other.top,
  };
};

// One pass of a connect storm: every agent connects once with mutual TLS (TCP, TLS 1.3 handshake,
// CONNECT, CONNACK), sends DISCONNECT and closes; every process of the pool keeps
// `concurrencyPerWorker` connects in flight, as fast as the broker answers.
/** One pass of the pool's connect jobs, with the broker's CPU and other programs' read around it. */
const measuredPass = async (pool: WorkerPool, target: BrokerTarget, agents: readonly AgentIdentity[], keyPem: string, options: ConnectOptions, hold: boolean): Promise<ConnectFigures> => {
  let before: ProcessSample | undefined;
  let otherCpu: ((own: readonly number[]) => Promise<OtherCpu>) | undefined;
  const results = await pool.run<ConnectResult>(connectJobs(target, agents, keyPem, options, pool.processes.length, hold), {
    timeoutMs: options.budgetMs + 30_000,
    beforeGo: async () => {
      otherCpu = await watchOtherCpu();
      before = await sampleProcess(target.pid);
    },
  });
  await sleep(SETTLE_MS);
  const after = await sampleProcess(target.pid);
  return figuresOf(results, before!, after, await otherCpu!(ownPids(target, pool)));
};

export const connectPass = (pool: WorkerPool, target: BrokerTarget, agents: readonly AgentIdentity[], keyPem: string, options: ConnectOptions): Promise<ConnectFigures> =>
  measuredPass(pool, target, agents, keyPem, options, false);

/** Like connectPass, but a pool of its own keeps the connections open until `release()`. */
export const holdConnections = async (target: BrokerTarget, agents: readonly AgentIdentity[], keyPem: string, options: ConnectOptions, processes: number) => {
  const pool = new WorkerPool(processes);
  try {
    const figures = await measuredPass(pool, target, agents, keyPem, options, true);
    return { figures, open: () => pool.open(), release: () => pool.close() };
  } catch (error) {
    await pool.close();
    throw error;
  }
};

export type PerBroker<T> = Partial<Record<BrokerKey, T>>;

export interface ConnectStormFigures {
  readonly firstConnects: PerBroker<ConnectFigures>;
  readonly reconnects: PerBroker<ConnectFigures>;
  /** Reconnects with the load generator offering only X25519 (like for like with Mosquitto's
   *  OpenSSL 3.0), when the run's own passes offer Node's default list. */
  readonly reconnectsX25519?: PerBroker<ConnectFigures>;
}

export const X25519 = 'X25519';

// Scenario 1. A warm-up first (not reported): other agents connect twice to each broker, so every
// broker's and the load processes' code is compiled before the clock runs. Then the agents'
// first connects (trustgate onboards them) and their reconnects, each pass taking the brokers in
// turn (bare node:tls, bare aedes, trustgate, Mosquitto: interleaved, so load from other programs
// falls on all of them alike); the baselines hold no state, so their "first connects" are connects
// like any other. Last, when the run offers Node's default groups, a reconnect pass offering X25519 only.
export const runConnectStorm = (
  targets: Targets, agents: readonly AgentIdentity[], warmupAgents: readonly AgentIdentity[], keyPem: string,
  options: ConnectOptions & { readonly processes: number }, log: (line: string) => void,
): Promise<ConnectStormFigures> => withPool(options.processes, async (pool) => {
  const brokers = brokersOf(targets);
  for (const broker of brokers) {
    for (let pass = 0; pass < 2; pass++) await connectPass(pool, targets[broker]!, warmupAgents, keyPem, options);
  }
  const figures: ConnectStormFigures = { firstConnects: {}, reconnects: {}, ...(options.ecdhCurve === undefined ? { reconnectsX25519: {} } : {}) };
  for (const pass of ['firstConnects', 'reconnects', 'reconnectsX25519'] as const) {
    const passFigures = figures[pass];
    if (!passFigures) continue;
    const passOptions = pass === 'reconnectsX25519' ? { ...options, ecdhCurve: X25519 } : options;
    for (const broker of brokers) {
      const target = targets[broker]!;
      // First connects change state (trustgate onboards): they cannot be taken again.
      const f = passFigures[broker] = pass === 'firstConnects'
        ? await connectPass(pool, target, agents, keyPem, passOptions)
        : await measureUndisturbed(`${pass} ${broker}`, () => connectPass(pool, target, agents, keyPem, passOptions));
      log(`${pass} ${target.label}: ${f.perSecond}/s, p99 ${f.p99Ms} ms, ${f.cpuSecondsPer1000} CPU s per 1,000 (load ${f.loadCpuMsPerConnect} ms each), ` +
        `broker busy ${Math.round(f.brokerCpuShare * 100)} %, ${f.failures} failed${f.failures ? ` (${f.failureSamples[0]})` : ''}, TLS ${f.tls?.group ?? '?'}`);
    }
  }
  return figures;
});
