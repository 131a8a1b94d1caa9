import type { BrokerKey, BrokerTarget } from '../lib/broker-target.ts';
import type { AgentIdentity } from '../lib/jobs.ts';
import { sampleProcess, sleep } from '../lib/processes.ts';
import { round } from '../lib/stats.ts';
import { withPool } from '../lib/worker-pool.ts';
import { connectPass, holdConnections, type ConnectFigures, type ConnectOptions } from './connect-storm.ts';

export interface MemoryOptions extends ConnectOptions {
  /** Connected idle agents at which RSS is read, ascending, e.g. [1000, 10000]. */
  readonly stages: readonly number[];
  readonly warmupAgents: number;
  readonly settleMs: number;
  /** Load processes per stage (each stage's processes hold their connections to the end). */
  readonly processes: number;
}

export interface MemoryStage {
  readonly agents: number;
  /** Connections the load workers still hold when RSS is read. */
  readonly open: number;
  readonly rssKiB: number;
  readonly kiBPerAgent: number;
  readonly connect: ConnectFigures;
  /** trustgate only: V8 heap in use (its /metrics). */
  readonly heapUsedMiB?: number | undefined;
}

export interface MemoryFigures {
  readonly baselineRssKiB: number;
  readonly stages: readonly MemoryStage[];
}

// RSS per idle connected agent on a fresh broker: warm up (a few connects, closed), read RSS, then
// connect and hold agents up to each stage, let the broker settle, read RSS again. Per agent =
// (RSS − baseline) / agents held. Agents stay connected (keepalive 600 s, no traffic) until the end.
export const runMemory = async (
  target: BrokerTarget, agents: readonly AgentIdentity[], keyPem: string, options: MemoryOptions,
  extra: { readonly heapUsedMiB?: () => Promise<number | undefined>; readonly log: (line: string) => void },
): Promise<MemoryFigures> => {
  await withPool(options.processes, (pool) => connectPass(pool, target, agents.slice(0, options.warmupAgents), keyPem, options));
  await sleep(options.settleMs);
  const baselineRssKiB = (await sampleProcess(target.pid)).rssKiB;
  const held: Awaited<ReturnType<typeof holdConnections>>[] = [];
  const stages: MemoryStage[] = [];
  try {
    let connected = 0;
    for (const stage of options.stages) {
      const batch = agents.slice(connected, stage);
      if (batch.length < stage - connected) throw new Error(`memory: ${stage} agents needed, ${agents.length} made`);
      const hold = await holdConnections(target, batch, keyPem, options, options.processes);
      held.push(hold);
      connected = stage;
      await sleep(options.settleMs);
      const rssKiB = (await sampleProcess(target.pid)).rssKiB;
      const open = (await Promise.all(held.map((h) => h.open()))).reduce((a, b) => a + b, 0);
      const heapUsedMiB = await extra.heapUsedMiB?.();
      stages.push({
        agents: stage, open, rssKiB, kiBPerAgent: round((rssKiB - baselineRssKiB) / stage, 1), connect: hold.figures,
        ...(heapUsedMiB === undefined ? {} : { heapUsedMiB: round(heapUsedMiB, 1) }),
      });
      extra.log(`memory ${target.label}: ${open} idle agents held, RSS ${(rssKiB / 1024).toFixed(1)} MiB (baseline ${(baselineRssKiB / 1024).toFixed(1)} MiB) → ${stages.at(-1)!.kiBPerAgent} KiB per agent`);
    }
  } finally {
    for (const hold of held) await hold.release();
  }
  return { baselineRssKiB, stages };
};

/** One broker of scenario 4, started fresh for it and stopped after. */
export interface MemoryBroker {
  readonly key: BrokerKey;
  start(): Promise<{ readonly target: BrokerTarget; stop(): Promise<void>; heapUsedMiB?: () => Promise<number | undefined> }>;
}

// Scenario 4 over several brokers, one after the other (RSS is a per-process reading that other
// programs' CPU does not move): each fresh, measured, stopped before the next starts.
export const runMemoryEach = async (
  brokers: readonly MemoryBroker[], agents: readonly AgentIdentity[], keyPem: string, options: MemoryOptions, log: (line: string) => void,
): Promise<Partial<Record<BrokerKey, MemoryFigures>>> => {
  const figures: Partial<Record<BrokerKey, MemoryFigures>> = {};
  for (const broker of brokers) {
    const started = await broker.start();
    try {
      figures[broker.key] = await runMemory(started.target, agents, keyPem, options, { heapUsedMiB: started.heapUsedMiB, log });
    } finally {
      await started.stop();
    }
  }
  return figures;
};
