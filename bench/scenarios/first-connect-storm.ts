import { join } from 'node:path';
import type { BrokerTarget } from '../lib/broker-target.ts';
import type { MintedCertificate } from '../lib/fast-certificates.ts';
import type { AgentIdentity, ConnectResult, Job, PublishResult, SubscribeResult } from '../lib/jobs.ts';
import { measureUndisturbed, sampleProcess, sleep, watchOtherCpu, type OtherCpu, type ProcessSample } from '../lib/processes.ts';
import { seedDataDir } from '../lib/seed-data-dir.ts';
import { concat, percentile, round } from '../lib/stats.ts';
import { startTrustgate, type TrustgateServer } from '../lib/trustgate-server.ts';
import { split, withPool, type WorkerPool } from '../lib/worker-pool.ts';
import type { ConnectOptions } from './connect-storm.ts';

export interface FirstConnectStormOptions extends ConnectOptions {
  /** Agents that connect for the first time in the storm (issue 18: 10,000). */
  readonly newAgents: number;
  /** Load processes of the storm. */
  readonly processes: number;
  /** Agents connected before the storm that keep publishing (QoS 1) to the tenant application. */
  readonly messagingAgents: number;
  readonly messagingProcesses: number;
  /** Their messages per second in all (paced), and how long the calm run lasts. */
  readonly messageRatePerSecond: number;
  readonly calmSeconds: number;
  readonly payloadBytes: number;
}

export interface MessagingFigures {
  readonly sent: number;
  readonly received: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** End-to-end latency: agent's PUBLISH (QoS 1) → the application receives it. */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface StormConnectFigures {
  readonly connects: number;
  readonly failures: number;
  readonly failureSamples: readonly string[];
  readonly seconds: number;
  readonly perSecond: number;
  /** CONNACK latency of the storm's own agents. */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface StormRunFigures {
  readonly messages: MessagingFigures;
  readonly connects?: StormConnectFigures;
  readonly seconds: number;
  readonly brokerCpuSeconds: number;
  readonly brokerCpuShare: number;
  /** The broker's event loop delay over the run (prom-client's monitor): how long it stood still. */
  readonly eventLoopDelay: { readonly p99Ms: number; readonly maxMs: number };
  readonly otherCpuSeconds: number;
  readonly otherCpuTop: readonly string[];
}

export interface FirstConnectStormFigures {
  readonly newAgents: number;
  readonly messagingAgents: number;
  readonly messageRatePerSecond: number;
  /** The messaging agents alone. */
  readonly calm: StormRunFigures;
  /** The new agents' first connects (each onboarding durable before its CONNACK), messaging beside. */
  readonly firstConnects: StormRunFigures;
  /** The same agents again, now known: the plain reconnect rate, messaging beside. */
  readonly reconnects: StormRunFigures;
  /** Onboarding rate ÷ reconnect rate (issue 18 target: ≥ 1). */
  readonly rateRatio: number;
  /** Messaging p99 during the first-connect storm ÷ calm (issue 18 target: ≤ 2). */
  readonly p99Ratio: number;
}

/** Messages in flight end to end, at most: at the paced rate, many seconds of a stalled broker. */
const WINDOW = 10_000;

// One run: the messaging agents publish at a fixed rate (paced, QoS 1) to the tenant application
// while, if given, a connect storm runs; the publishers stop when the storm's processes are done,
// so the messages measured are those sent during the storm. Pool layout: process 0 the
// application, 1…m the publishers, then the storm's processes.
const stormRun = async (
  pool: WorkerPool, server: TrustgateServer, target: BrokerTarget, messaging: readonly AgentIdentity[], keyPem: string, options: FirstConnectStormOptions,
  storm: { readonly agents: readonly AgentIdentity[] } | undefined, seconds: number,
): Promise<StormRunFigures> => {
  const endpoint = { ...target.endpoint, ecdhCurve: options.ecdhCurve };
  const slices = split(messaging, options.messagingProcesses);
  const maxMessages = Math.ceil(options.messageRatePerSecond * (seconds + 5));
  const connectJobs: Job[] = storm ? split(storm.agents, options.processes).map((slice) => ({
    kind: 'connect', endpoint, keyPem, agents: slice, concurrency: options.concurrencyPerWorker, hold: false, timeoutMs: options.timeoutMs, budgetMs: options.budgetMs,
  })) : [];
  const jobs: Job[] = [
    { kind: 'subscribe', endpoint, application: target.application, filter: target.filter, qos: 1, maxMessages,
      publisherProcesses: slices.length, progressStep: 100, budgetMs: seconds * 1000 + 30_000 },
    ...slices.map((slice, p): Job => ({
      kind: 'publish', endpoint, keyPem, agents: slice, qos: 1, seconds, maxMessages: Math.ceil(maxMessages / slices.length), window: Math.ceil(WINDOW / slices.length),
      ratePerSecond: options.messageRatePerSecond / slices.length, batchMessages: 1, processIndex: p, payloadBytes: options.payloadBytes, budgetMs: seconds * 1000 + 30_000,
    })),
    ...connectJobs,
  ];
  const [application, ...rest] = pool.processes;
  const publishers = rest.slice(0, slices.length);
  application!.onMessage = (message) => {
    if (message.type === 'progress') message.counts.forEach((received, p) => publishers[p]?.send({ type: 'credit', received }));
  };
  let sentByPublishers = 0;
  let publishersDone = 0;
  for (const publisher of publishers) {
    publisher.onMessage = (message) => {
      if (message.type !== 'done') return;
      sentByPublishers += (message.result as PublishResult).sent;
      publishersDone += 1;
      if (publishersDone === publishers.length) application!.send({ type: 'expect', total: sentByPublishers });
    };
  }
  let before: ProcessSample | undefined;
  let otherCpu: ((own: readonly number[]) => Promise<OtherCpu>) | undefined;
  try {
    const results = await pool.run<SubscribeResult | PublishResult | ConnectResult>(jobs, {
      timeoutMs: seconds * 1000 + 60_000,
      beforeGo: async () => {
        otherCpu = await watchOtherCpu();
        await server.eventLoopDelay();
        before = await sampleProcess(target.pid);
      },
      // The storm is over when its processes are: the publishers stop then.
      afterGo: (done) => {
        if (connectJobs.length === 0) return;
        void Promise.all(done.slice(1 + slices.length)).finally(() => {
          for (const publisher of publishers) publisher.send({ type: 'stop' });
        }).catch(() => undefined);
      },
    });
    const after = await sampleProcess(target.pid);
    const eventLoopDelay = await server.eventLoopDelay();
    const other = await otherCpu!([target.pid, ...pool.processes.map((p) => p.child.pid ?? 0)]);
    const received = results[0] as SubscribeResult;
    const sent = results.slice(1, 1 + slices.length) as PublishResult[];
    const connects = results.slice(1 + slices.length) as ConnectResult[];
    const messagingSeconds = (received.lastMs - Math.min(...sent.map((s) => s.startMs))) / 1000;
    const brokerCpuSeconds = after.cpuSeconds - before!.cpuSeconds;
    const wallSeconds = (after.atMs - before!.atMs) / 1000;
    let stormFigures: StormConnectFigures | undefined;
    if (connects.length > 0) {
      const latencies = concat(connects.map((c) => c.latenciesMs));
      const stormSeconds = (Math.max(...connects.map((c) => c.endMs)) - Math.min(...connects.map((c) => c.startMs))) / 1000;
      stormFigures = {
        connects: latencies.length, failures: connects.reduce((sum, c) => sum + c.failures, 0), failureSamples: connects.flatMap((c) => c.failureSamples).slice(0, 5),
        seconds: round(stormSeconds, 3), perSecond: round(latencies.length / stormSeconds, 1),
        p50Ms: round(percentile(latencies, 0.5)), p99Ms: round(percentile(latencies, 0.99)),
      };
    }
    return {
      messages: {
        sent: sent.reduce((sum, s) => sum + s.sent, 0), received: received.received, seconds: round(messagingSeconds, 3),
        perSecond: round(received.received / messagingSeconds, 0), p50Ms: round(percentile(received.latenciesMs, 0.5)), p99Ms: round(percentile(received.latenciesMs, 0.99)),
      },
      ...(stormFigures ? { connects: stormFigures } : {}),
      seconds: round(wallSeconds, 3), brokerCpuSeconds: round(brokerCpuSeconds, 3), brokerCpuShare: round(brokerCpuSeconds / wallSeconds),
      eventLoopDelay: { p99Ms: round(eventLoopDelay.p99Ms, 1), maxMs: round(eventLoopDelay.maxMs, 1) },
      otherCpuSeconds: round(other.seconds), otherCpuTop: other.top,
    };
  } finally {
    for (const process of pool.processes) process.onMessage = undefined;
    await pool.release();
    await sleep(100);
  }
};

// Scenario 10 (issue 18 part 5): a rollout day. A fresh trustgate (SQLite, synchronous=FULL, the
// bench tenant's 2 CAs stored before start); `messagingAgents` agents connected beforehand publish
// QoS 1 at a fixed rate to the tenant application. Calm: that alone. Then `newAgents` agents connect
// for the first time (each is onboarded: a durable write before its CONNACK) from `processes`
// processes × in-flight connects, and then reconnect (known agents: no write), the messaging going
// on beside both. The storm's rate beside the reconnect rate, the messages' latency in the storm
// beside calm. A warm-up (other agents' first connects beside the messaging) comes first.
export const runFirstConnectStorm = async (
  options: FirstConnectStormOptions,
  setup: { readonly workDir: string; readonly tenant: string; readonly tenantCas: readonly MintedCertificate[]; readonly messagingAgents: readonly AgentIdentity[];
    readonly newAgents: readonly AgentIdentity[]; readonly warmupAgents: readonly AgentIdentity[]; readonly agentKeyPem: string;
    readonly targetOf: (server: TrustgateServer, applicationToken: string) => BrokerTarget; readonly log: (line: string) => void },
): Promise<FirstConnectStormFigures> => {
  const dataDir = join(setup.workDir, 'first-connect-storm');
  await seedDataDir(dataDir, [{ tenant: setup.tenant, cas: setup.tenantCas }]);
  const server = await startTrustgate('trustgate (first-connect storm)', dataDir);
  try {
    const target = setup.targetOf(server, await server.token(setup.tenant, ['mcmqtt.read']));
    const budgetSeconds = options.budgetMs / 1000;
    const show = (f: StormRunFigures) => `messages ${f.messages.received}/${f.messages.sent} p50/p99 ${f.messages.p50Ms}/${f.messages.p99Ms} ms` +
      (f.connects ? `; connects ${f.connects.perSecond}/s p50/p99 ${f.connects.p50Ms}/${f.connects.p99Ms} ms, ${f.connects.failures} failed${f.connects.failures ? ` (${f.connects.failureSamples[0]})` : ''}` : '') +
      `; broker ${f.brokerCpuSeconds} CPU s, busy ${Math.round(f.brokerCpuShare * 100)} %, event loop delay p99/max ${f.eventLoopDelay.p99Ms}/${f.eventLoopDelay.maxMs} ms`;
    return await withPool(1 + options.messagingProcesses + options.processes, async (pool) => {
      const run = (storm: readonly AgentIdentity[] | undefined, seconds: number) =>
        stormRun(pool, server, target, setup.messagingAgents, setup.agentKeyPem, options, storm ? { agents: storm } : undefined, seconds);
      setup.log(`first-connect storm warm-up: ${show(await run(setup.warmupAgents, budgetSeconds))}`);
      // Calm and reconnects can be taken again when other programs disturbed them (--quiet-wait);
      // first connects cannot (they onboard their agents).
      const calm = await measureUndisturbed('first-connect storm calm', () => run(undefined, options.calmSeconds));
      setup.log(`first-connect storm calm: ${show(calm)}`);
      const firstConnects = await run(setup.newAgents, budgetSeconds);
      setup.log(`first-connect storm, ${setup.newAgents.length} first connects: ${show(firstConnects)}`);
      const reconnects = await measureUndisturbed('first-connect storm reconnects', () => run(setup.newAgents, budgetSeconds));
      setup.log(`first-connect storm, the same agents reconnecting: ${show(reconnects)}`);
      return {
        newAgents: setup.newAgents.length, messagingAgents: setup.messagingAgents.length, messageRatePerSecond: options.messageRatePerSecond,
        calm, firstConnects, reconnects,
        rateRatio: round(firstConnects.connects!.perSecond / reconnects.connects!.perSecond, 3),
        p99Ratio: round(firstConnects.messages.p99Ms / calm.messages.p99Ms, 2),
      };
    });
  } finally {
    await server.stop();
  }
};
