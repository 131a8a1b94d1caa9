import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { BrokerTarget } from '../lib/broker-target.ts';
import type { AgentIdentity } from '../lib/jobs.ts';
import type { MintedCertificate } from '../lib/fast-certificates.ts';
import { measureUndisturbed, sampleProcess, track } from '../lib/processes.ts';
import { seedDataDir } from '../lib/seed-data-dir.ts';
import { median, round } from '../lib/stats.ts';
import { startTrustgate, type TrustgateServer } from '../lib/trustgate-server.ts';
import { withPool } from '../lib/worker-pool.ts';
import { connectPass, type ConnectFigures, type ConnectOptions } from './connect-storm.ts';

export interface TrustIndexOptions extends ConnectOptions {
  /** Tenants in the large index, the bench tenant included; each holds 2 CAs. */
  readonly tenants: number;
  readonly rounds: number;
  readonly seedProcesses: number;
  readonly processes: number;
}

export interface TrustIndexFigures {
  readonly caCertificates: { readonly small: number; readonly large: number };
  readonly seedSeconds: number;
  readonly startSeconds: { readonly small: number; readonly large: number };
  readonly rssKiBAtStart: { readonly small: number; readonly large: number };
  readonly firstConnects: { readonly small: ConnectFigures; readonly large: ConnectFigures };
  readonly rounds: readonly { readonly small: ConnectFigures; readonly large: ConnectFigures }[];
  readonly reconnectsPerSecond: { readonly small: number; readonly large: number };
  readonly ratio: number;
}

const SEED_WORKER = join(import.meta.dirname, '..', 'seed-worker.ts');

const seedInProcesses = async (dataDir: string, from: number, to: number, processes: number, timeoutMs: number): Promise<void> => {
  const size = Math.ceil((to - from) / processes);
  await Promise.all(Array.from({ length: processes }, (_, p) => {
    const start = from + p * size;
    const end = Math.min(to, start + size);
    if (start >= end) return Promise.resolve();
    const child = track(fork(SEED_WORKER, [dataDir, String(start), String(end)], { execArgv: ['--disable-warning=ExperimentalWarning'] }));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`seeding tenants ${start}-${end} took over ${timeoutMs / 1000} s`));
      }, timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`seeding tenants ${start}-${end} failed (exit ${code})`));
      });
    });
  }));
};

// Two fresh trustgate processes whose data dirs differ only in the other tenants' CAs: one with the
// bench tenant's 2 CAs, one with the same 2 plus (tenants - 1) × 2 more, all registered and
// verified through the registry's use cases before start (the server loads them into its trust
// index at start). After a warm-up with other agents, both onboard the same agents (one pass each,
// shown for context), then reconnect passes alternate small/large, large/small, … and the target
// compares their medians.
export const runTrustIndex = async (
  options: TrustIndexOptions,
  setup: { readonly workDir: string; readonly tenant: string; readonly tenantCas: readonly MintedCertificate[]; readonly agents: readonly AgentIdentity[];
    /** Other agents that connect first, so that both servers are warm when the agents onboard. */
    readonly warmupAgents: readonly AgentIdentity[];
    readonly agentKeyPem: string; readonly targetOf: (server: TrustgateServer) => BrokerTarget; readonly log: (line: string) => void },
): Promise<TrustIndexFigures> => {
  const smallDir = join(setup.workDir, 'trust-2');
  const largeDir = join(setup.workDir, `trust-${options.tenants * 2}`);
  const seedStarted = performance.now();
  for (const dir of [smallDir, largeDir]) await seedDataDir(dir, [{ tenant: setup.tenant, cas: setup.tenantCas }]);
  await seedInProcesses(largeDir, 0, options.tenants - 1, options.seedProcesses, 240_000);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  setup.log(`trust index: ${(options.tenants * 2).toLocaleString('en')} CAs registered and verified in ${seedSeconds.toFixed(1)} s`);

  const servers: TrustgateServer[] = [];
  try {
    const small = await startTrustgate('trustgate (2 CAs)', smallDir, { startTimeoutMs: 60_000 });
    servers.push(small);
    const large = await startTrustgate(`trustgate (${options.tenants * 2} CAs)`, largeDir, { startTimeoutMs: 120_000 });
    servers.push(large);
    const rssKiBAtStart = { small: (await sampleProcess(small.pid)).rssKiB, large: (await sampleProcess(large.pid)).rssKiB };
    const targets = { small: setup.targetOf(small), large: setup.targetOf(large) };
    const { firstConnects, rounds } = await withPool(options.processes, async (pool) => {
      for (const which of ['small', 'large'] as const) await connectPass(pool, targets[which], setup.warmupAgents, setup.agentKeyPem, options);
      const firstConnects = {
        small: await connectPass(pool, targets.small, setup.agents, setup.agentKeyPem, options),
        large: await connectPass(pool, targets.large, setup.agents, setup.agentKeyPem, options),
      };
      const rounds: { small: ConnectFigures; large: ConnectFigures }[] = [];
      for (let r = 0; r < options.rounds; r++) {
        const order = r % 2 === 0 ? (['small', 'large'] as const) : (['large', 'small'] as const);
        const round: Partial<Record<'small' | 'large', ConnectFigures>> = {};
        for (const which of order) {
          round[which] = await measureUndisturbed(`trust index round ${r + 1} (${which})`, () => connectPass(pool, targets[which], setup.agents, setup.agentKeyPem, options));
        }
        rounds.push(round as { small: ConnectFigures; large: ConnectFigures });
        setup.log(`trust index round ${r + 1}: ${round.small!.perSecond}/s with 2 CAs, ${round.large!.perSecond}/s with ${options.tenants * 2}`);
      }
      return { firstConnects, rounds };
    });
    const reconnectsPerSecond = {
      small: median(rounds.map((r) => r.small.perSecond)),
      large: median(rounds.map((r) => r.large.perSecond)),
    };
    return {
      caCertificates: { small: small.trustIndexSize, large: large.trustIndexSize },
      seedSeconds: round(seedSeconds, 1),
      startSeconds: { small: round(small.startSeconds), large: round(large.startSeconds) },
      rssKiBAtStart,
      firstConnects, rounds, reconnectsPerSecond,
      ratio: round(reconnectsPerSecond.large / reconnectsPerSecond.small, 3),
    };
  } finally {
    for (const server of servers) await server.stop();
  }
};
