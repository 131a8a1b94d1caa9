import { brokersOf, type BrokerKey, type BrokerTarget, type Targets } from '../lib/broker-target.ts';
import type { Parameters } from '../lib/parameters.ts';
import type { AgentIdentity, Job, PublishResult, SubscribeResult } from '../lib/jobs.ts';
import { measureUndisturbed, sampleProcess, sleep, watchOtherCpu, type OtherCpu, type ProcessSample } from '../lib/processes.ts';
import { percentile, round } from '../lib/stats.ts';
import { split, withPool, type WorkerPool } from '../lib/worker-pool.ts';

export interface ThroughputOptions {
  readonly qos: 0 | 1;
  /** Publishers send for this long (or until maxMessages). */
  readonly seconds: number;
  readonly maxMessages: number;
  /** An offered load in messages/s (for latency); undefined = as fast as the window allows. */
  readonly ratePerSecond?: number | undefined;
  /** Processes the publishing agents are spread over (the application has one of its own). */
  readonly publisherProcesses: number;
  /** Messages sent but not yet received by the application, at most, over all publishers. */
  readonly window: number;
  readonly batchMessages: number;
  readonly payloadBytes: number;
  readonly budgetMs: number;
  readonly ecdhCurve: string | undefined;
}

export interface ThroughputFigures {
  readonly sent: number;
  readonly received: number;
  readonly acked: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly brokerCpuSeconds: number;
  readonly cpuSecondsPer100k: number;
  readonly brokerCpuShare: number;
  readonly loadCpuSeconds: number;
  /** The application's process alone, CPU s per wall s: near 1.0 it, not the broker, set the pace. */
  readonly applicationCpuShare: number;
  readonly duplicates: number;
  readonly otherCpuSeconds: number;
  readonly otherCpuTop: readonly string[];
  /** The CPU of the processes a placement watches (cluster nodes, Redis), in its order. */
  readonly watched?: readonly WatchedCpu[];
}

/** Where the clients of a run connect when the broker is more than one process (scenario 7). */
export interface Placement {
  /** Where the tenant application connects (default: the run's target). */
  readonly application?: BrokerTarget;
  /** Where publisher process p connects: publishers[p % length] (default: the run's target). */
  readonly publishers?: readonly BrokerTarget[];
  /** Processes whose CPU is read over the run like the target's (each node, redis-server). */
  readonly watch?: readonly { readonly label: string; readonly pid: number }[];
}

export interface WatchedCpu {
  readonly label: string;
  readonly pid: number;
  readonly cpuSeconds: number;
  readonly cpuSecondsPer100k: number;
  /** CPU s per wall s (1 core = 1.0). */
  readonly cpuShare: number;
}

// Agents publish to their tc/<tenant>/<clientId>/o/data topic for `seconds`; the tenant
// application, subscribed to tc/<tenant>/#, receives. Closed loop with a bounded window: the
// application reports what it received (through the parent) and publishers never have more than
// `window` messages in flight end to end, so latency is the brokers' and not a queue we built.
// The rate counts from the first publish to the last message received. Process 0 of the pool is
// the application, processes 1… the publishers. A placement spreads the clients over several
// broker processes (cluster nodes) and reads the CPU of each.
export const throughputRun = async (
  pool: WorkerPool, target: BrokerTarget, agents: readonly AgentIdentity[], keyPem: string, options: ThroughputOptions, placement: Placement = {},
): Promise<ThroughputFigures> => {
  const endpointOf = (broker: BrokerTarget) => ({ ...broker.endpoint, ecdhCurve: options.ecdhCurve });
  const applicationTarget = placement.application ?? target;
  const publisherTargets = placement.publishers?.length ? placement.publishers : [target];
  const watch = placement.watch ?? [];
  const slices = split(agents, options.publisherProcesses);
  const window = Math.max(options.batchMessages, Math.ceil(options.window / slices.length));
  const maxPerProcess = Math.ceil(options.maxMessages / slices.length);
  const jobs: Job[] = [
    { kind: 'subscribe', endpoint: endpointOf(applicationTarget), application: applicationTarget.application, filter: applicationTarget.filter, qos: options.qos,
      maxMessages: maxPerProcess * slices.length, publisherProcesses: slices.length, progressStep: Math.max(1, Math.floor(window / 8)), budgetMs: options.budgetMs },
    ...slices.map((slice, p): Job => ({
      kind: 'publish', endpoint: endpointOf(publisherTargets[p % publisherTargets.length]!), keyPem, agents: slice, qos: options.qos, seconds: options.seconds, maxMessages: maxPerProcess, window,
      ratePerSecond: options.ratePerSecond === undefined ? undefined : options.ratePerSecond / slices.length,
      batchMessages: options.batchMessages, processIndex: p, payloadBytes: options.payloadBytes, budgetMs: options.budgetMs,
    })),
  ];
  const [application, ...publishers] = pool.processes;
  // The application's progress goes to each publisher process as its credit.
  application!.onMessage = (message) => {
    if (message.type === 'progress') message.counts.forEach((received, p) => publishers[p]?.send({ type: 'credit', received }));
  };
  let before: ProcessSample | undefined;
  let watchedBefore: ProcessSample[] = [];
  let otherCpu: ((own: readonly number[]) => Promise<OtherCpu>) | undefined;
  // When every publisher is done, the application learns how many messages to wait for.
  let sentByPublishers = 0;
  let publishersDone = 0;
  for (const publisher of publishers.slice(0, slices.length)) {
    publisher.onMessage = (message) => {
      if (message.type !== 'done') return;
      sentByPublishers += (message.result as PublishResult).sent;
      publishersDone += 1;
      if (publishersDone === slices.length) application!.send({ type: 'expect', total: sentByPublishers });
    };
  }
  try {
    const [received, ...sent] = await pool.run<SubscribeResult | PublishResult>(jobs, {
      timeoutMs: options.budgetMs + 30_000,
      beforeGo: async () => {
        otherCpu = await watchOtherCpu();
        before = await sampleProcess(target.pid);
        watchedBefore = await Promise.all(watch.map((w) => sampleProcess(w.pid)));
      },
    }) as [SubscribeResult, ...PublishResult[]];
    const after = await sampleProcess(target.pid);
    const watchedAfter = await Promise.all(watch.map((w) => sampleProcess(w.pid)));
    const loadCpuSeconds = (received.cpuMs + sent.reduce((sum, p) => sum + p.cpuMs, 0)) / 1000;
    const other = await otherCpu!([target.pid, ...watch.map((w) => w.pid), ...pool.processes.map((p) => p.child.pid ?? 0)]);
    const startMs = Math.min(...sent.map((p) => p.startMs));
    const seconds = (received.lastMs - startMs) / 1000;
    const brokerCpuSeconds = after.cpuSeconds - before!.cpuSeconds;
    return {
      sent: sent.reduce((sum, p) => sum + p.sent, 0),
      received: received.received,
      acked: sent.reduce((sum, p) => sum + p.acked, 0),
      seconds: round(seconds, 3),
      perSecond: round(received.received / seconds, 0),
      p50Ms: round(percentile(received.latenciesMs, 0.5)),
      p99Ms: round(percentile(received.latenciesMs, 0.99)),
      brokerCpuSeconds: round(brokerCpuSeconds),
      cpuSecondsPer100k: round(brokerCpuSeconds * 100_000 / received.received, 3),
      brokerCpuShare: round(brokerCpuSeconds / ((after.atMs - before!.atMs) / 1000)),
      loadCpuSeconds: round(loadCpuSeconds),
      applicationCpuShare: round(received.cpuMs / 1000 / seconds),
      duplicates: received.duplicates,
      otherCpuSeconds: round(other.seconds),
      otherCpuTop: other.top,
      ...(watch.length > 0 ? {
        watched: watch.map((w, i): WatchedCpu => {
          const cpuSeconds = watchedAfter[i]!.cpuSeconds - watchedBefore[i]!.cpuSeconds;
          return {
            label: w.label, pid: w.pid, cpuSeconds: round(cpuSeconds), cpuSecondsPer100k: round(cpuSeconds * 100_000 / received.received, 3),
            cpuShare: round(cpuSeconds / ((watchedAfter[i]!.atMs - watchedBefore[i]!.atMs) / 1000)),
          };
        }),
      } : {}),
    };
  } finally {
    for (const process of pool.processes) process.onMessage = undefined;
    await pool.release();
    await sleep(100); // the broker finishes closing those sessions before the next run
  }
};

export interface ThroughputCase {
  readonly label: string;
  readonly qos: 0 | 1;
  readonly agents: number;
  readonly batchMessages: number;
  /** As fast as the brokers go (window p.throughput.window): messages/s and CPU. */
  readonly saturated: Partial<Record<BrokerKey, ThroughputFigures>>;
  /** At p.throughput.latencyRatePerSecond offered: the latency. */
  readonly paced: Partial<Record<BrokerKey, ThroughputFigures>>;
}

// Scenario 2: QoS 0 and 1, one streaming agent and many agents fanning in, each case first as fast
// as it goes, then at a fixed offered rate; bare aedes, trustgate, Mosquitto in turn (bare node:tls
// is no broker: it forwards nothing, so bare aedes is the baseline here). One pool for all runs:
// process 0 is the application, 1… the publishers. A warm-up run per broker comes first.
export const runThroughput = (
  targets: Targets, agents: readonly AgentIdentity[], keyPem: string, p: Parameters, log: (line: string) => void,
): Promise<ThroughputCase[]> => withPool(1 + p.throughput.fanInProcesses, async (pool) => {
  const t = p.throughput;
  const cases = [
    { label: 'QoS 0, 1 agent → 1 application', qos: 0, agents: 1, batchMessages: t.streamBatchMessages },
    { label: 'QoS 1, 1 agent → 1 application', qos: 1, agents: 1, batchMessages: t.streamBatchMessages },
    { label: `QoS 0, ${t.fanInAgents} agents → 1 application`, qos: 0, agents: t.fanInAgents, batchMessages: 1 },
    { label: `QoS 1, ${t.fanInAgents} agents → 1 application`, qos: 1, agents: t.fanInAgents, batchMessages: 1 },
  ] as const;
  const options = (c: { qos: 0 | 1; agents: number; batchMessages: number }, seconds: number, ratePerSecond?: number): ThroughputOptions => ({
    qos: c.qos, seconds, ratePerSecond, maxMessages: t.maxMessages, publisherProcesses: c.agents === 1 ? 1 : t.fanInProcesses, window: t.window,
    batchMessages: c.batchMessages, payloadBytes: t.payloadBytes, budgetMs: t.budgetMs, ecdhCurve: p.ecdhCurve,
  });
  const brokers = brokersOf({ ...targets, bareTls: undefined });
  for (const broker of brokers) {
    await throughputRun(pool, targets[broker]!, agents.slice(0, t.fanInAgents), keyPem, options({ qos: 1, agents: t.fanInAgents, batchMessages: 1 }, t.warmupSeconds));
  }
  const done: ThroughputCase[] = [];
  for (const c of cases) {
    const result: ThroughputCase = { ...c, saturated: {}, paced: {} };
    for (const broker of brokers) {
      const target = targets[broker]!;
      const publishers = agents.slice(0, c.agents);
      const f = result.saturated[broker] = await measureUndisturbed(`${c.label} ${broker}`,
        () => throughputRun(pool, target, publishers, keyPem, options(c, t.seconds)));
      const l = result.paced[broker] = await measureUndisturbed(`${c.label} at ${t.latencyRatePerSecond}/s ${broker}`,
        () => throughputRun(pool, target, publishers, keyPem, options(c, t.latencySeconds, t.latencyRatePerSecond)));
      log(`${c.label} ${target.label}: ${f.perSecond}/s (${f.received}/${f.sent}), ${f.cpuSecondsPer100k} CPU s per 100k, broker busy ${Math.round(f.brokerCpuShare * 100)} %, ` +
        `app ${Math.round(f.applicationCpuShare * 100)} %; at ${t.latencyRatePerSecond}/s p50 ${l.p50Ms} p99 ${l.p99Ms} ms`);
    }
    done.push(result);
  }
  return done;
});
