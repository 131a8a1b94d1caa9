import { brokersOf, type BrokerKey, type BrokerTarget, type Targets } from '../lib/broker-target.ts';
import type { Parameters } from '../lib/parameters.ts';
import type { AgentIdentity, Job, PublishResult, SubscribeResult } from '../lib/jobs.ts';
import { measureUndisturbed, sampleProcess, sleep, watchOtherCpu, type OtherCpu, type ProcessSample } from '../lib/processes.ts';
import { concat, percentile, round } from '../lib/stats.ts';
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
  /** The load processes' CPU s per wall s (application and publishers; 1 core = 1.0). */
  readonly loadCpuShare: number;
  /** The CPU of the processes a placement watches (cluster nodes, Redis), in its order. */
  readonly watched?: readonly WatchedCpu[];
  /** With placement groups: what each group's application received, in group order. */
  readonly groups?: readonly { readonly received: number; readonly applicationCpuShare: number }[];
}

/** Where the clients of a run connect when the broker is more than one process (scenario 7). */
export interface Placement {
  /** Where the tenant application connects (default: the run's target). */
  readonly application?: BrokerTarget;
  /** Where publisher process p connects: publishers[p % length] (default: the run's target). */
  readonly publishers?: readonly BrokerTarget[];
  /** Processes whose CPU is read over the run like the target's (each node, redis-server). */
  readonly watch?: readonly { readonly label: string; readonly pid: number }[];
  /**
   * Several applications instead of one (application/publishers are then ignored): group g's
   * application (pool process g) subscribes to tc/<tenant>/+/o/g<g> only, and publisher process p
   * belongs to group p % groups, connects to its `publishers` and publishes below …/o/g<g>, so
   * each group's messages reach its own application and no other (traffic that stays on a node).
   */
  readonly groups?: readonly { readonly application: BrokerTarget; readonly publishers: BrokerTarget }[];
}

/** Group g's topic level: an agent's …/o/data becomes …/o/g<g>, the application's tc/<tenant>/# becomes tc/<tenant>/+/o/g<g>. */
const groupTopic = (topic: string, g: number): string => topic.replace(/\/o\/[^/]+$/, `/o/g${g}`);
const groupFilter = (filter: string, g: number): string => filter.replace(/#$/, `+/o/g${g}`);

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
// the application (0…n−1 with n placement groups), the next processes the publishers. A placement
// spreads the clients over several broker processes (cluster nodes) and reads the CPU of each.
export const throughputRun = async (
  pool: WorkerPool, target: BrokerTarget, agents: readonly AgentIdentity[], keyPem: string, options: ThroughputOptions, placement: Placement = {},
): Promise<ThroughputFigures> => {
  const endpointOf = (broker: BrokerTarget) => ({ ...broker.endpoint, ecdhCurve: options.ecdhCurve });
  const application = placement.application ?? target;
  const groups = placement.groups?.length
    ? placement.groups.map((g, i) => ({ application: g.application, identity: { ...g.application.application, clientId: `${g.application.application.clientId}-${i + 1}` },
      filter: groupFilter(g.application.filter, i), publishers: [g.publishers], level: i as number | undefined }))
    : [{ application, identity: application.application, filter: application.filter, publishers: placement.publishers?.length ? placement.publishers : [target], level: undefined }];
  const watch = placement.watch ?? [];
  const slices = split(agents, options.publisherProcesses);
  const groupOf = (p: number) => p % groups.length;
  const window = Math.max(options.batchMessages, Math.ceil(options.window / slices.length));
  const maxPerProcess = Math.ceil(options.maxMessages / slices.length);
  const jobs: Job[] = [
    ...groups.map((g): Job => ({
      kind: 'subscribe', endpoint: endpointOf(g.application), application: g.identity, filter: g.filter, qos: options.qos,
      maxMessages: maxPerProcess * slices.length, publisherProcesses: slices.length, progressStep: Math.max(1, Math.floor(window / 8)), budgetMs: options.budgetMs,
    })),
    ...slices.map((slice, p): Job => {
      const g = groups[groupOf(p)]!;
      return {
        kind: 'publish', endpoint: endpointOf(g.publishers[Math.floor(p / groups.length) % g.publishers.length]!), keyPem,
        agents: g.level === undefined ? slice : slice.map((agent) => ({ ...agent, topic: groupTopic(agent.topic, g.level!) })),
        qos: options.qos, seconds: options.seconds, maxMessages: maxPerProcess, window,
        ratePerSecond: options.ratePerSecond === undefined ? undefined : options.ratePerSecond / slices.length,
        batchMessages: options.batchMessages, processIndex: p, payloadBytes: options.payloadBytes, budgetMs: options.budgetMs,
      };
    }),
  ];
  const applications = pool.processes.slice(0, groups.length);
  const publishers = pool.processes.slice(groups.length, groups.length + slices.length);
  // Each application's progress goes to its own group's publisher processes as their credit.
  applications.forEach((process, a) => {
    process.onMessage = (message) => {
      if (message.type === 'progress') message.counts.forEach((received, p) => groupOf(p) === a && publishers[p]?.send({ type: 'credit', received }));
    };
  });
  let before: ProcessSample | undefined;
  let watchedBefore: ProcessSample[] = [];
  let otherCpu: ((own: readonly number[]) => Promise<OtherCpu>) | undefined;
  // When every publisher is done, each application learns how many messages to wait for.
  const sentByGroup = groups.map(() => 0);
  let publishersDone = 0;
  publishers.forEach((publisher, p) => {
    publisher.onMessage = (message) => {
      if (message.type !== 'done') return;
      sentByGroup[groupOf(p)]! += (message.result as PublishResult).sent;
      publishersDone += 1;
      if (publishersDone === slices.length) applications.forEach((process, a) => process.send({ type: 'expect', total: sentByGroup[a]! }));
    };
  });
  try {
    const results = await pool.run<SubscribeResult | PublishResult>(jobs, {
      timeoutMs: options.budgetMs + 30_000,
      beforeGo: async () => {
        otherCpu = await watchOtherCpu();
        before = await sampleProcess(target.pid);
        watchedBefore = await Promise.all(watch.map((w) => sampleProcess(w.pid)));
      },
    });
    const after = await sampleProcess(target.pid);
    const watchedAfter = await Promise.all(watch.map((w) => sampleProcess(w.pid)));
    const received = results.slice(0, groups.length) as SubscribeResult[];
    const sent = results.slice(groups.length) as PublishResult[];
    const receivedCount = received.reduce((sum, r) => sum + r.received, 0);
    const loadCpuSeconds = [...received, ...sent].reduce((sum, r) => sum + r.cpuMs, 0) / 1000;
    const other = await otherCpu!([target.pid, ...watch.map((w) => w.pid), ...pool.processes.map((p) => p.child.pid ?? 0)]);
    const startMs = Math.min(...sent.map((p) => p.startMs));
    const seconds = (Math.max(...received.map((r) => r.lastMs)) - startMs) / 1000;
    const brokerCpuSeconds = after.cpuSeconds - before!.cpuSeconds;
    const latenciesMs = received.length === 1 ? received[0]!.latenciesMs : concat(received.map((r) => r.latenciesMs));
    return {
      sent: sent.reduce((sum, p) => sum + p.sent, 0),
      received: receivedCount,
      acked: sent.reduce((sum, p) => sum + p.acked, 0),
      seconds: round(seconds, 3),
      perSecond: round(receivedCount / seconds, 0),
      p50Ms: round(percentile(latenciesMs, 0.5)),
      p99Ms: round(percentile(latenciesMs, 0.99)),
      brokerCpuSeconds: round(brokerCpuSeconds),
      cpuSecondsPer100k: round(brokerCpuSeconds * 100_000 / receivedCount, 3),
      brokerCpuShare: round(brokerCpuSeconds / ((after.atMs - before!.atMs) / 1000)),
      loadCpuSeconds: round(loadCpuSeconds),
      // The busiest application: near 1.0 it, not the broker, set the pace.
      applicationCpuShare: round(Math.max(...received.map((r) => r.cpuMs / 1000 / seconds))),
      duplicates: received.reduce((sum, r) => sum + r.duplicates, 0),
      otherCpuSeconds: round(other.seconds),
      otherCpuTop: other.top,
      loadCpuShare: round(loadCpuSeconds / seconds),
      ...(watch.length > 0 ? {
        watched: watch.map((w, i): WatchedCpu => {
          const cpuSeconds = watchedAfter[i]!.cpuSeconds - watchedBefore[i]!.cpuSeconds;
          return {
            label: w.label, pid: w.pid, cpuSeconds: round(cpuSeconds), cpuSecondsPer100k: round(cpuSeconds * 100_000 / receivedCount, 3),
            cpuShare: round(cpuSeconds / ((watchedAfter[i]!.atMs - watchedBefore[i]!.atMs) / 1000)),
          };
        }),
      } : {}),
      ...(placement.groups?.length ? { groups: received.map((r) => ({ received: r.received, applicationCpuShare: round(r.cpuMs / 1000 / seconds) })) } : {}),
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
