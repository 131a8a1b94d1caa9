import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MINDCONNECT_RATE_LIMITS } from '../../src/config/index.ts';
import type { BrokerTarget } from '../lib/broker-target.ts';
import { generateP256Key, mintAgentCertificate, mintCa, type MintedCertificate } from '../lib/fast-certificates.ts';
import type { AgentIdentity, Job, ReconnectLoopResult } from '../lib/jobs.ts';
import { measureUndisturbed, sampleProcess, sleep, watchOtherCpu, type OtherCpu, type ProcessSample } from '../lib/processes.ts';
import { seedDataDir } from '../lib/seed-data-dir.ts';
import { concat, percentile, round } from '../lib/stats.ts';
import { startTrustgate, type TrustgateServer } from '../lib/trustgate-server.ts';
import { split, withPool, type WorkerPool } from '../lib/worker-pool.ts';
import type { ConnectOptions } from './connect-storm.ts';

export interface ReconnectStormOptions extends ConnectOptions {
  /** Agents in the storm, the refused one included (issue 16: 1,000). */
  readonly agents: number;
  /** Load processes of the well-behaved agents; the refused agent has one more of its own. */
  readonly processes: number;
  /** The calm case: the same agents' reconnects at this many per second in all. */
  readonly calmRatePerSecond: number;
  /** How long each calm and storm phase lasts. */
  readonly seconds: number;
  /** The refused agent alone: this many attempts (its CPU per attempt). */
  readonly refusedAttempts: number;
  /** TRUSTGATE_RATE_LIMITS of the server: `mindconnect` (the connect limits and bans, when the build has them) or `off`. */
  readonly rateLimits: string;
}

/** One group of agents in a reconnect loop over one phase: what they asked and what the broker answered. */
export interface LoopFigures {
  readonly attempts: number;
  /** Attempts answered CONNACK 0. */
  readonly accepted: number;
  readonly seconds: number;
  readonly attemptsPerSecond: number;
  readonly acceptedPerSecond: number;
  /** Connect latency of the accepted attempts (TCP + TLS + CONNECT → CONNACK 0). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Attempts by outcome (`CONNACK 0`, `CONNACK 5`, `closed after TLS, no CONNACK`, `TLS refused (…)`, `timeout`, …). */
  readonly outcomes: Readonly<Record<string, number>>;
  readonly loadCpuSeconds: number;
}

/** A phase: its groups, the broker's CPU over it, and other programs' CPU meanwhile. */
export interface PhaseFigures {
  readonly groups: Readonly<Record<string, LoopFigures>>;
  readonly seconds: number;
  readonly brokerCpuSeconds: number;
  /** Broker CPU s per wall s (1 core = 1.0). */
  readonly brokerCpuShare: number;
  readonly otherCpuSeconds: number;
  readonly otherCpuTop: readonly string[];
}

export interface ReconnectStormFigures {
  readonly rateLimits: string;
  readonly agents: number;
  /** Every well-behaved agent's first connect (onboarding), not reported in the table. */
  readonly onboarding: PhaseFigures;
  /** Well-behaved agents, paced. */
  readonly calm: PhaseFigures;
  /** Well-behaved agents as fast as they can, without the refused agent. */
  readonly stormAlone: PhaseFigures;
  /** The refused agent's loop alone, `refusedAttempts` attempts. */
  readonly refusedAlone: PhaseFigures;
  /** Well-behaved agents as fast as they can, the refused agent looping beside them. */
  readonly storm: PhaseFigures;
  /** Broker CPU ms per attempt of the refused agent (refusedAlone). */
  readonly refusedCpuMsPerAttempt: number;
  /** Its attempts during the storm × CPU per attempt: CPU s the storm spent on it, and that share of the broker's CPU. */
  readonly refusedCpuSecondsInStorm: number;
  readonly refusedCpuShareInStorm: number;
  /** Well-behaved agents' p99 connect latency, storm (with the refused agent) ÷ calm: the target of issue 16 (≤ 2). */
  readonly p99Ratio: number;
  /** The same, storm with the refused agent ÷ storm without: what the refused agent alone adds. */
  readonly refusedEffectP99Ratio: number;
}

interface Group {
  readonly name: string;
  readonly agents: readonly AgentIdentity[];
  readonly keyPem: string;
  readonly processes: number;
  readonly concurrencyPerProcess: number;
  /** Attempts per second for the whole group (paced), or undefined: as fast as the broker answers. */
  readonly ratePerSecond: number | undefined;
  readonly maxAttempts: number;
  readonly seconds: number;
}

const SETTLE_MS = 300;

const loopFigures = (results: readonly ReconnectLoopResult[]): LoopFigures => {
  const latencies = concat(results.map((r) => r.latenciesMs));
  const outcomes: Record<string, number> = {};
  for (const result of results) for (const [outcome, n] of Object.entries(result.outcomes)) outcomes[outcome] = (outcomes[outcome] ?? 0) + n;
  const attempts = results.reduce((sum, r) => sum + r.attempts, 0);
  const seconds = (Math.max(...results.map((r) => r.endMs)) - Math.min(...results.map((r) => r.startMs))) / 1000;
  return {
    attempts, accepted: latencies.length, seconds: round(seconds, 3),
    attemptsPerSecond: round(attempts / seconds, 1), acceptedPerSecond: round(latencies.length / seconds, 1),
    p50Ms: round(percentile(latencies, 0.5)), p99Ms: round(percentile(latencies, 0.99)),
    outcomes, loadCpuSeconds: round(results.reduce((sum, r) => sum + r.cpuMs, 0) / 1000),
  };
};

/** Runs groups of reconnect loops together (each over its own processes of the pool), the broker's CPU read around them. */
export const loopPhase = async (pool: WorkerPool, target: BrokerTarget, groups: readonly Group[], options: ConnectOptions): Promise<PhaseFigures> => {
  const jobs: Job[] = [];
  const slots: { group: number; from: number; to: number }[] = [];
  for (const [g, group] of groups.entries()) {
    const slices = split(group.agents, group.processes);
    slots.push({ group: g, from: jobs.length, to: jobs.length + slices.length });
    for (const slice of slices) {
      jobs.push({
        kind: 'reconnect-loop', endpoint: { ...target.endpoint, ecdhCurve: options.ecdhCurve }, keyPem: group.keyPem, agents: slice,
        concurrency: group.concurrencyPerProcess, seconds: group.seconds, maxAttempts: Math.ceil(group.maxAttempts / slices.length),
        ratePerSecond: group.ratePerSecond === undefined ? undefined : group.ratePerSecond / slices.length, timeoutMs: options.timeoutMs,
      });
    }
  }
  let before: ProcessSample | undefined;
  let otherCpu: ((own: readonly number[]) => Promise<OtherCpu>) | undefined;
  const results = await pool.run<ReconnectLoopResult>(jobs, {
    timeoutMs: Math.max(...groups.map((g) => g.seconds)) * 1000 + options.timeoutMs + 30_000,
    beforeGo: async () => {
      otherCpu = await watchOtherCpu();
      before = await sampleProcess(target.pid);
    },
  });
  await sleep(SETTLE_MS);
  const after = await sampleProcess(target.pid);
  const other = await otherCpu!([target.pid, ...pool.processes.map((p) => p.child.pid ?? 0)]);
  const brokerCpuSeconds = after.cpuSeconds - before!.cpuSeconds;
  const wallSeconds = (after.atMs - before!.atMs) / 1000;
  return {
    groups: Object.fromEntries(slots.map(({ group, from, to }) => [groups[group]!.name, loopFigures(results.slice(from, to))])),
    seconds: round(wallSeconds - SETTLE_MS / 1000, 3),
    brokerCpuSeconds: round(brokerCpuSeconds, 3), brokerCpuShare: round(brokerCpuSeconds / wallSeconds),
    otherCpuSeconds: round(other.seconds), otherCpuTop: other.top,
  };
};

const WELL_BEHAVED = 'well-behaved';
const REFUSED = 'refused';

/** The refused agent: a certificate for the bench tenant's naming, issued by a CA that no tenant registered. */
const refusedAgent = (tenant: string): { agent: AgentIdentity; keyPem: string; issuer: MintedCertificate } => {
  const issuer = mintCa([['O', tenant], ['CN', 'unregistered CA']]);
  const key = generateP256Key();
  const clientId = `${tenant}_refused-00000`;
  return { agent: { clientId, certificatePem: mintAgentCertificate(issuer, 'refused-00000', key).pem, topic: `tc/${tenant}/${clientId}/o/data` }, keyPem: key.privateKeyPem, issuer };
};

// Every agent of the bench connects from 127.0.0.1; in a plant they come from many addresses (or,
// behind one NAT, the operator sizes the per-address limit for the site). `mindconnect` here is the
// default policy with the per-address bucket opened wide, so the per-client-id limits and bans are
// what the scenario measures, not one shared address being throttled.
const policyOf = async (rateLimits: string, workDir: string): Promise<string> => {
  if (rateLimits !== 'mindconnect') return rateLimits;
  const file = join(workDir, 'reconnect-storm-limits.json');
  const { rest, mqtt } = MINDCONNECT_RATE_LIMITS;
  await writeFile(file, JSON.stringify({ rest, mqtt: { ...mqtt, connectPerSourceAddress: { perSecond: 1_000_000, burst: 1_000_000 } } }));
  return file;
};

// Scenario 9 (issue 16): buggy firmware reconnecting as fast as it can. A fresh trustgate with
// TRUSTGATE_RATE_LIMITS as given (mindconnect: the MQTT connect limits and bans, when the build has
// them), the bench tenant's 2 CAs stored before start. agents − 1 well-behaved agents onboard, then:
// calm (the same agents, paced), the storm alone (as fast as they can: `processes` × in-flight
// connects), the refused agent alone (a certificate from an unregistered CA, one connect after the
// other, `refusedAttempts` of them: the broker's CPU per refused attempt), and the storm with the
// refused agent looping beside it. Every attempt's outcome is counted: the figures say what the
// broker answered, with limits or without.
export const runReconnectStorm = async (
  options: ReconnectStormOptions,
  setup: { readonly workDir: string; readonly tenant: string; readonly tenantCas: readonly MintedCertificate[]; readonly agents: readonly AgentIdentity[];
    readonly agentKeyPem: string; readonly targetOf: (server: TrustgateServer) => BrokerTarget; readonly log: (line: string) => void },
): Promise<ReconnectStormFigures> => {
  const dataDir = join(setup.workDir, 'reconnect-storm');
  await seedDataDir(dataDir, [{ tenant: setup.tenant, cas: setup.tenantCas }]);
  const server = await startTrustgate(`trustgate (reconnect storm, rate limits ${options.rateLimits})`, dataDir, { env: { TRUSTGATE_RATE_LIMITS: await policyOf(options.rateLimits, setup.workDir) } });
  try {
    const target = setup.targetOf(server);
    const agents = setup.agents.slice(0, options.agents - 1);
    const refused = refusedAgent(setup.tenant);
    const wellBehaved = (ratePerSecond: number | undefined, maxAttempts: number, seconds: number): Group => ({
      name: WELL_BEHAVED, agents, keyPem: setup.agentKeyPem, processes: options.processes, concurrencyPerProcess: options.concurrencyPerWorker,
      ratePerSecond, maxAttempts, seconds,
    });
    const refusedLoop = (maxAttempts: number, seconds: number): Group => ({
      name: REFUSED, agents: [refused.agent], keyPem: refused.keyPem, processes: 1, concurrencyPerProcess: 1, ratePerSecond: undefined, maxAttempts, seconds,
    });
    const show = (phase: PhaseFigures) => Object.entries(phase.groups).map(([name, g]) =>
      `${name} ${g.attemptsPerSecond}/s, p50/p99 ${g.p50Ms}/${g.p99Ms} ms, ${JSON.stringify(g.outcomes)}`).join('; ') + `; broker ${phase.brokerCpuSeconds} CPU s`;
    return await withPool(options.processes + 1, async (pool) => {
      const budget = options.budgetMs / 1000;
      const onboarding = await loopPhase(pool, target, [wellBehaved(undefined, agents.length, budget)], options);
      setup.log(`reconnect storm onboarding: ${show(onboarding)}`);
      // Reconnects of known agents can be taken again when other programs disturbed them (--quiet-wait);
      // onboarding and the refused agent's first attempts cannot (they may change state: a ban).
      const calm = await measureUndisturbed('reconnect storm calm',
        () => loopPhase(pool, target, [wellBehaved(options.calmRatePerSecond, Number.MAX_SAFE_INTEGER, options.seconds)], options));
      setup.log(`reconnect storm calm: ${show(calm)}`);
      const stormAlone = await measureUndisturbed('reconnect storm without the refused agent',
        () => loopPhase(pool, target, [wellBehaved(undefined, Number.MAX_SAFE_INTEGER, options.seconds)], options));
      setup.log(`reconnect storm without the refused agent: ${show(stormAlone)}`);
      const refusedAlone = await loopPhase(pool, target, [refusedLoop(options.refusedAttempts, budget)], options);
      setup.log(`reconnect storm, refused agent alone: ${show(refusedAlone)}`);
      const storm = await measureUndisturbed('reconnect storm with the refused agent',
        () => loopPhase(pool, target, [wellBehaved(undefined, Number.MAX_SAFE_INTEGER, options.seconds), refusedLoop(Number.MAX_SAFE_INTEGER, options.seconds)], options));
      setup.log(`reconnect storm with the refused agent: ${show(storm)}`);
      const refusedAttempts = refusedAlone.groups[REFUSED]!.attempts;
      const refusedCpuMsPerAttempt = refusedAttempts > 0 ? refusedAlone.brokerCpuSeconds * 1000 / refusedAttempts : Number.NaN;
      const refusedCpuSecondsInStorm = storm.groups[REFUSED]!.attempts * refusedCpuMsPerAttempt / 1000;
      return {
        rateLimits: options.rateLimits, agents: options.agents, onboarding, calm, stormAlone, refusedAlone, storm,
        refusedCpuMsPerAttempt: round(refusedCpuMsPerAttempt, 3),
        refusedCpuSecondsInStorm: round(refusedCpuSecondsInStorm, 3),
        refusedCpuShareInStorm: round(refusedCpuSecondsInStorm / storm.brokerCpuSeconds, 3),
        p99Ratio: round(storm.groups[WELL_BEHAVED]!.p99Ms / calm.groups[WELL_BEHAVED]!.p99Ms, 2),
        refusedEffectP99Ratio: round(storm.groups[WELL_BEHAVED]!.p99Ms / stormAlone.groups[WELL_BEHAVED]!.p99Ms, 2),
      };
    });
  } finally {
    await server.stop();
  }
};
