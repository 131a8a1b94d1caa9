import type { BrokerKey, BrokerTarget } from '../lib/broker-target.ts';
import type { AgentIdentity } from '../lib/jobs.ts';
import { spawnSync } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { nowMs, sampleProcess, sleep } from '../lib/processes.ts';
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
  /** Where the RSS is (/proc/<pid>/smaps), KiB: the brk heap (glibc's main arena), other anonymous
   *  mappings (V8's heap, glibc's thread arenas, mmapped blocks ≥ MALLOC_MMAP_THRESHOLD_), file-backed. */
  readonly rssByKindKiB?: RssByKind | undefined;
}

export interface RssByKind { readonly brkHeap: number; readonly anonymous: number; readonly file: number }

const rssByKind = async (pid: number): Promise<RssByKind | undefined> => {
  try {
    const smaps = await readFile(`/proc/${pid}/smaps`, 'utf8');
    const kinds = { brkHeap: 0, anonymous: 0, file: 0 };
    let kind: keyof RssByKind = 'anonymous';
    for (const line of smaps.split('\n')) {
      const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
      if (mapping) {
        const name = mapping[2]!.trim();
        kind = name === '[heap]' ? 'brkHeap' : mapping[1] !== '0' || name.startsWith('/') ? 'file' : 'anonymous';
        continue;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss) kinds[kind] += Number(rss[1]);
    }
    return kinds;
  } catch {
    return undefined;
  }
};

export interface MemoryFigures {
  readonly baselineRssKiB: number;
  readonly baselineByKindKiB?: RssByKind;
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
  const baselineByKindKiB = await rssByKind(target.pid);
  const baselineMalloc = process.env.BENCH_MALLOC_TRIM ? await mallocProbe(target.pid, false) : undefined;
  const held: Awaited<ReturnType<typeof holdConnections>>[] = [];
  const stages: MemoryStage[] = [];
  try {
    let connected = 0;
    for (const stage of options.stages) {
      const batch = agents.slice(connected, stage);
      if (batch.length < stage - connected) throw new Error(`memory: ${stage} agents needed, ${agents.length} made`);
      // trustgate onboards each new agent (a durable write before its CONNACK): ~100 first connects/s
      // on 2 shared cores, so a stage of 5,000 gets time by its size, not the pass budget alone.
      const hold = await holdConnections(target, batch, keyPem, { ...options, budgetMs: Math.max(options.budgetMs, batch.length * 30) }, options.processes);
      held.push(hold);
      connected = stage;
      await sleep(options.settleMs);
      const rssKiB = (await sampleProcess(target.pid)).rssKiB;
      const byKind = await rssByKind(target.pid);
      const open = (await Promise.all(held.map((h) => h.open()))).reduce((a, b) => a + b, 0);
      const heapUsedMiB = await extra.heapUsedMiB?.();
      stages.push({
        // Per connection actually held (a connect that failed or timed out holds nothing).
        agents: stage, open, rssKiB, kiBPerAgent: round((rssKiB - baselineRssKiB) / Math.max(1, open), 1), connect: hold.figures,
        ...(heapUsedMiB === undefined ? {} : { heapUsedMiB: round(heapUsedMiB, 1) }),
        ...(byKind === undefined ? {} : { rssByKindKiB: byKind }),
      });
      extra.log(`memory ${target.label}: ${open} idle agents held, RSS ${(rssKiB / 1024).toFixed(1)} MiB (baseline ${(baselineRssKiB / 1024).toFixed(1)} MiB) → ${stages.at(-1)!.kiBPerAgent} KiB per agent` +
        (byKind && baselineByKindKiB ? ` (brk heap ${round((byKind.brkHeap - baselineByKindKiB.brkHeap) / open, 1)}, other anonymous ${round((byKind.anonymous - baselineByKindKiB.anonymous) / open, 1)}, file ${round((byKind.file - baselineByKindKiB.file) / open, 1)})` : ''));
      if (target.label !== 'Mosquitto') await heapSnapshot(target.pid, extra.log);
      if (process.env.BENCH_MALLOC_TRIM) await mallocTrim(target.pid, baselineByKindKiB, baselineMalloc, open, extra.log);
    }
  } finally {
    for (const hold of held) await hold.release();
  }
  return { baselineRssKiB, ...(baselineByKindKiB ? { baselineByKindKiB } : {}), stages };
};

// BENCH_HEAP_SNAPSHOT_DIR=<dir> (profiling, with NODE_OPTIONS="--heapsnapshot-signal=SIGUSR2
// --diagnostic-dir=<dir>" so the Node brokers write one on SIGUSR2): after each stage's reading,
// a V8 heap snapshot of each Node broker, waited for until its file stops growing.
const heapSnapshot = async (pid: number, log: (line: string) => void): Promise<void> => {
  const dir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
  if (!dir) return;
  const files = async () => (await readdir(dir)).filter((f) => f.endsWith('.heapsnapshot') && f.includes(`.${pid}.`));
  const before = new Set(await files());
  process.kill(pid, 'SIGUSR2');
  const deadline = nowMs() + 120_000;
  let last = -1;
  while (nowMs() < deadline) {
    await sleep(1_000);
    const file = (await files()).find((f) => !before.has(f));
    if (!file) continue;
    const size = (await stat(join(dir, file))).size;
    if (size === last && size > 0) {
      log(`heap snapshot of ${pid}: ${join(dir, file)}`);
      return;
    }
    last = size;
  }
  log(`heap snapshot of ${pid}: not written within 120 s`);
};

// BENCH_MALLOC_TRIM=1 (profiling): glibc's malloc_stats() at the baseline and after each stage
// (what malloc holds and what is in use), then malloc_trim(0), then RSS again: whether the brk
// heap is free memory glibc kept or live data. Through gdb; the broker's stderr goes to a file.
interface MallocStats { readonly systemKiB: number; readonly inUseKiB: number }
const mallocProbe = async (pid: number, trim: boolean): Promise<MallocStats | undefined> => {
  const statsFile = `/tmp/bench-malloc-stats-${pid}-${Date.now()}.txt`;
  spawnSync('gdb', ['-p', String(pid), '-batch', '-ex', `call (int)dup2((int)open("${statsFile}", 577, 420), 2)`, '-ex', 'call (void)malloc_stats()',
    ...(trim ? ['-ex', 'call (int)malloc_trim(0)'] : [])], { encoding: 'utf8', timeout: 60_000 });
  const stats = await readFile(statsFile, 'utf8').catch(() => '');
  const total = /Total \(incl\. mmap\):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)/.exec(stats);
  return total ? { systemKiB: Number(total[1]) / 1024, inUseKiB: Number(total[2]) / 1024 } : undefined;
};
const mallocTrim = async (pid: number, baseline: RssByKind | undefined, baselineMalloc: MallocStats | undefined, open: number, log: (line: string) => void): Promise<void> => {
  const before = await rssByKind(pid);
  const stats = await mallocProbe(pid, true);
  const after = await rssByKind(pid);
  if (!before || !after || !baseline || !stats || !baselineMalloc) {
    log(`malloc probe in ${pid} failed`);
    return;
  }
  log(`malloc in ${pid}, per agent: held ${round((stats.systemKiB - baselineMalloc.systemKiB) / open, 1)} KiB, in use ${round((stats.inUseKiB - baselineMalloc.inUseKiB) / open, 1)} KiB; ` +
    `after malloc_trim brk heap ${round((before.brkHeap - baseline.brkHeap) / open, 1)} → ${round((after.brkHeap - baseline.brkHeap) / open, 1)}, ` +
    `other anonymous ${round((before.anonymous - baseline.anonymous) / open, 1)} → ${round((after.anonymous - baseline.anonymous) / open, 1)}`);
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
