import { parseArgs } from 'node:util';

export interface Parameters {
  readonly mode: 'quick' | 'full';
  /** Scenarios to run (1-11, see bench/README.md). */
  readonly scenarios: readonly number[];
  /** Load-generator processes per connect pass. */
  readonly workers: number;
  /** Key-exchange groups the load generator offers (undefined = Node's default, X25519MLKEM768 first). */
  readonly ecdhCurve: string | undefined;
  readonly connect: { readonly agents: number; readonly warmupAgents: number; readonly concurrencyPerWorker: number; readonly timeoutMs: number; readonly budgetMs: number };
  readonly throughput: {
    readonly seconds: number; readonly maxMessages: number; readonly warmupSeconds: number; readonly fanInAgents: number; readonly fanInProcesses: number;
    /** Messages in flight end to end in the saturation runs: enough to keep either broker busy. */
    readonly window: number;
    /** Messages per write of the single streaming agent (fan-in agents write one at a time). */
    readonly streamBatchMessages: number;
    /** The offered load of the latency runs, and how long they last. */
    readonly latencyRatePerSecond: number; readonly latencySeconds: number;
    readonly payloadBytes: number; readonly budgetMs: number;
  };
  readonly trustIndex: { readonly tenants: number; readonly agents: number; readonly rounds: number; readonly seedProcesses: number };
  /** Scenario 8 (only with --only 8): reconnects with `revoked` serials per CA vs none. */
  readonly revokedSerials: { readonly revoked: number; readonly agents: number; readonly rounds: number };
  /** Scenario 9 (only with --only 9): agents reconnecting as fast as they can, one with a refused certificate in a loop. */
  readonly reconnectStorm: {
    readonly agents: number; readonly calmRatePerSecond: number; readonly seconds: number; readonly refusedAttempts: number;
    /** TRUSTGATE_RATE_LIMITS of its server (--rate-limits). */
    readonly rateLimits: string;
  };
  /** Scenario 10 (only with --only 10): new agents' first connects while other agents exchange messages. */
  readonly firstConnectStorm: {
    readonly newAgents: number; readonly messagingAgents: number; readonly messagingProcesses: number;
    readonly messageRatePerSecond: number; readonly calmSeconds: number; readonly budgetMs: number;
  };
  /** Scenario 11 (only with --only 11): concurrent REST write flows beside GET /caCertificates. */
  readonly restWrites: {
    readonly concurrency: number; readonly flows: number; readonly readers: number; readonly readerTenants: number;
    readonly calmSeconds: number; readonly budgetMs: number;
  };
  readonly memory: { readonly stages: readonly number[]; readonly warmupAgents: number; readonly settleMs: number };
  readonly rest: { readonly concurrency: number; readonly registrations: number; readonly listSeconds: number; readonly budgetMs: number };
  /** Scenario 7: one node vs two on PostgreSQL + Redis (payload and messages per write as in throughput). */
  readonly cluster: {
    readonly seconds: number; readonly warmupSeconds: number;
    /** Agents of the fan-in case, spread over the publisher processes (and, with two nodes, over both nodes). */
    readonly fanInAgents: number; readonly fanInProcesses: number; readonly window: number;
    readonly latencyRatePerSecond: number; readonly latencySeconds: number; readonly budgetMs: number;
    /** Local traffic also runs at this offered rate per node (one node: one application and its agents; two nodes: both), so each node's CPU per message is read at the same load. */
    readonly localRatePerNode: number;
  };
  /** Before each measurement, wait until other programs are idle, at most this long in all (0 = never wait). */
  readonly quietWaitSeconds: number;
  /** The whole run is abandoned (children killed) after this long. */
  readonly timeLimitSeconds: number;
}

export const USAGE = `Usage: npm run bench [-- --quick] [-- --only 1,2] [-- --workers 3] [-- --groups X25519] [-- --agents N] [-- --seconds N] [-- --tenants N]
  --quick     scenarios 1-6 with smaller counts: under 2 minutes on a 2-core machine (full run, 1-7: under 10)
  --only      scenarios to run: 1 connect storm, 2 throughput, 3 trust index scale, 4 memory, 5 REST, 6 CPU limit,
              7 cluster (two nodes on PostgreSQL 127.0.0.1:5432 + Redis 127.0.0.1:6379 vs one),
              8 reconnects with 10,000 revoked serials per CA vs none, 9 reconnect storm with a refused agent,
              10 first-connect storm beside messaging agents, 11 concurrent REST writes beside readers
              (8-11 only when named: --only 8,9,10,11)
  --workers   load-generator processes for connects and REST (default 3)
  --groups    TLS key-exchange groups the load generator offers, e.g. X25519 (default: Node's own list)
  --memory-stages  idle agents at which scenario 4 reads RSS, e.g. 1000,5000 (default 1000 quick, 1000,5000,10000 full)
  --agents    agents per connect-storm pass; --seconds: seconds per throughput case (2 and 7); --tenants: trust-index tenants (× 2 CAs)
  --rate-limits   TRUSTGATE_RATE_LIMITS of scenario 9's server (default mindconnect; off to compare)
  --quiet-wait S   before each measurement wait until other programs are idle (at most S seconds in all), and
              take a disturbed measurement again (default 0: no waiting, disturbed measurements only flagged)
  --out       directory for the JSON results (default bench/results)`;

export const parseParameters = (argv: readonly string[]): Parameters & { readonly outDir: string | undefined; readonly help: boolean } => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false }, only: { type: 'string' }, workers: { type: 'string' }, groups: { type: 'string' },
      agents: { type: 'string' }, seconds: { type: 'string' }, tenants: { type: 'string' }, out: { type: 'string' }, 'quiet-wait': { type: 'string' }, 'memory-stages': { type: 'string' }, 'rate-limits': { type: 'string' }, help: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick;
  const number = (raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`not a positive whole number: ${raw}`);
    return value;
  };
  const order = [6, 1, 2, 5, 3, 4, 7, 8, 9, 10, 11];
  const onlyWhenNamed = [8, 9, 10, 11];
  // --quick keeps within its 2 minutes without the cluster (two more nodes to start): `--quick --only 7` runs it.
  const scenarios = values.only === undefined ? order.filter((id) => !onlyWhenNamed.includes(id) && (!quick || id !== 7)) : order.filter((id) => values.only!.split(',').map(Number).includes(id));
  const workers = number(values.workers, 3);
  const fanInAgents = quick ? 50 : 100; // scenarios 2 and 7: the same agents, so their figures stand side by side
  return {
    help: values.help,
    outDir: values.out,
    mode: quick ? 'quick' : 'full',
    scenarios,
    workers,
    ecdhCurve: values.groups,
    connect: { agents: number(values.agents, quick ? 800 : 3_000), warmupAgents: 150, concurrencyPerWorker: 8, timeoutMs: 20_000, budgetMs: quick ? 30_000 : 60_000 },
    throughput: {
      seconds: values.seconds === undefined ? (quick ? 1 : 5) : Math.max(0.5, Number.parseFloat(values.seconds) || 0), maxMessages: 2_000_000, warmupSeconds: quick ? 0.5 : 1,
      fanInAgents, fanInProcesses: 2, window: 10_000, streamBatchMessages: 10,
      latencyRatePerSecond: 10_000, latencySeconds: quick ? 0.5 : 3, payloadBytes: 100, budgetMs: quick ? 30_000 : 60_000,
    },
    trustIndex: { tenants: number(values.tenants, quick ? 5_000 : 10_000), agents: quick ? 400 : 1_500, rounds: quick ? 3 : 5, seedProcesses: 2 },
    revokedSerials: { revoked: 10_000, agents: quick ? 400 : 1_500, rounds: quick ? 3 : 5 },
    reconnectStorm: { agents: 1_000, calmRatePerSecond: 50, seconds: quick ? 4 : 15, refusedAttempts: quick ? 300 : 1_000, rateLimits: values['rate-limits'] ?? 'mindconnect' },
    firstConnectStorm: {
      newAgents: quick ? 1_000 : 10_000, messagingAgents: 100, messagingProcesses: 2, messageRatePerSecond: 1_000, calmSeconds: quick ? 3 : 10,
      budgetMs: quick ? 30_000 : 180_000,
    },
    restWrites: { concurrency: 50, flows: quick ? 300 : 1_000, readers: 5, readerTenants: 20, calmSeconds: quick ? 3 : 10, budgetMs: quick ? 30_000 : 60_000 },
    memory: { stages: values['memory-stages'] === undefined ? (quick ? [1_000] : [1_000, 5_000, 10_000]) : values['memory-stages'].split(',').map((stage) => number(stage, 0)).sort((a, b) => a - b), warmupAgents: 100, settleMs: quick ? 1_500 : 3_000 },
    rest: { concurrency: 50, registrations: quick ? 300 : 1_000, listSeconds: quick ? 3 : 10, budgetMs: quick ? 30_000 : 60_000 },
    cluster: {
      seconds: values.seconds === undefined ? (quick ? 1 : 3) : Math.max(0.5, Number.parseFloat(values.seconds) || 0), warmupSeconds: quick ? 0.5 : 1,
      fanInAgents, fanInProcesses: 2, window: 10_000, latencyRatePerSecond: 2_000, latencySeconds: quick ? 0.5 : 3, budgetMs: quick ? 30_000 : 60_000,
      localRatePerNode: 10_000,
    },
    quietWaitSeconds: values['quiet-wait'] === undefined ? 0 : Number.parseFloat(values['quiet-wait']) || 0,
    // Scenario 7 (two trustgate nodes, PostgreSQL, Redis) brings its own allowance.
    timeLimitSeconds: (quick ? 360 : 1_200) + (scenarios.includes(7) ? (quick ? 90 : 150) : 0) + (scenarios.includes(10) ? (quick ? 60 : 300) : 0) + (Number.parseFloat(values['quiet-wait'] ?? '0') || 0),
  };
};
