import type { ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';

// Every child the benchmark starts (brokers, load workers) is tracked here, so that whatever
// ends the run (an error, a time limit, Ctrl-C) also ends them: no process outlives the benchmark.
const children = new Set<ChildProcess>();

const isRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

export const track = <T extends ChildProcess>(child: T): T => {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
};

export const killAllChildren = (): void => {
  for (const child of children) if (isRunning(child)) child.kill('SIGKILL');
};

const temporaryDirs = new Set<string>();
/** Removed when this process exits, however it exits (the children are killed first). */
export const removeOnExit = (dir: string): void => {
  temporaryDirs.add(dir);
};

process.on('exit', () => {
  killAllChildren();
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux (getconf CLK_TCK)

export interface ProcessSample {
  /** user + system CPU seconds of all threads so far (/proc/<pid>/stat utime + stime). */
  readonly cpuSeconds: number;
  /** Resident set size (/proc/<pid>/status VmRSS). */
  readonly rssKiB: number;
  /** Monotonic time of the sample, ms. */
  readonly atMs: number;
}

export const sampleProcess = async (pid: number): Promise<ProcessSample> => {
  const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]);
  // The command name may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND,
    rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]),
    atMs: Number(process.hrtime.bigint()) / 1e6,
  };
};

const cpuTable = async (): Promise<Map<number, number>> => {
  const table = new Map<number, number>();
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  await Promise.all(pids.map(async (pid) => {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(pid, (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND);
    } catch {
      // gone meanwhile
    }
  }));
  return table;
};

const commandOf = async (pid: number): Promise<string> => {
  try {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    if (args.length > 0) return args.filter((arg) => !arg.startsWith('--')).slice(0, 2).map((arg) => arg.split('/').slice(-2).join('/')).join(' ');
    return `[${(await readFile(`/proc/${pid}/comm`, 'utf8')).trim()}]`;
  } catch {
    return `pid ${pid}`;
  }
};

const QUIET_PROBE_MS = 250;
let quietBudgetMs = 0;
let retriesIfDisturbed = 0;
let quietWaitedMs = 0;
/** Seconds spent waiting for other programs so far (not part of what the benchmark itself takes). */
export const quietWaitedSeconds = (): number => quietWaitedMs / 1000;
let onWait: (line: string) => void = () => undefined;

/**
 * With a budget, every measurement first waits (in all at most `seconds`) until other programs are
 * idle, and one that was disturbed all the same is taken again (see measureUndisturbed).
 */
export const setQuietWait = (seconds: number, log: (line: string) => void): void => {
  quietBudgetMs = seconds * 1000;
  retriesIfDisturbed = seconds > 0 ? 2 : 0;
  onWait = log;
};

/** Share of the whole machine that other programs took during a measurement of `seconds`. */
export const otherCpuShare = (figures: { readonly otherCpuSeconds: number; readonly seconds: number }): number =>
  figures.seconds > 0 ? figures.otherCpuSeconds / (figures.seconds * cpus().length) : 0;

export const DISTURBED_SHARE = 0.1;

/**
 * Runs a repeatable measurement; while other programs took over 10 % of the machine during it and
 * retries are on (--quiet-wait), runs it again, at most twice more, and keeps the least disturbed.
 * Not for measurements that change state (first connects onboard their agents).
 */
export const measureUndisturbed = async <T extends { readonly otherCpuSeconds: number; readonly seconds: number }>(
  what: string, measure: () => Promise<T>,
): Promise<T & { readonly attempts: number }> => {
  let best = await measure();
  let attempts = 1;
  while (otherCpuShare(best) > DISTURBED_SHARE && attempts <= retriesIfDisturbed) {
    onWait(`${what}: other programs took ${Math.round(otherCpuShare(best) * 100)} % of the machine; measuring again`);
    const next = await measure();
    attempts += 1;
    if (otherCpuShare(next) < otherCpuShare(best)) best = next;
  }
  return { ...best, attempts };
};

// Idle = other programs used under 10 % of one core over a quarter of a second. The benchmark's own
// processes are idle at this point (workers wait for `go`), so only this process is left out.
const waitForQuiet = async (): Promise<void> => {
  let waited = 0;
  while (quietBudgetMs > 0) {
    const before = await cpuTable();
    await sleep(QUIET_PROBE_MS);
    const after = await cpuTable();
    let busy = 0;
    for (const [pid, cpu] of after) if (pid !== process.pid) busy += cpu - (before.get(pid) ?? cpu);
    if (busy < 0.1 * QUIET_PROBE_MS / 1000) break;
    quietBudgetMs -= QUIET_PROBE_MS;
    waited += QUIET_PROBE_MS;
    quietWaitedMs += QUIET_PROBE_MS;
    if (waited % 10_000 === QUIET_PROBE_MS) onWait(`waiting for other programs to go idle (${(quietBudgetMs / 1000).toFixed(0)} s of waiting left)`);
  }
};

export interface OtherCpu {
  readonly seconds: number;
  /** The busiest of them, e.g. "node .scratch/serve-debug.ts 1.2 s". */
  readonly top: readonly string[];
}

/**
 * CPU that other programs on the machine used while a measurement ran: every process's CPU
 * (/proc/<pid>/stat) before and after, minus the benchmark's own processes. On a 2-core machine
 * another program's load shows up directly in the figures; this tells such a run apart and names
 * the culprit (kernel threads such as ksoftirqd included).
 */
export const watchOtherCpu = async (): Promise<(ownPids: readonly number[]) => Promise<OtherCpu>> => {
  await waitForQuiet();
  const before = await cpuTable();
  return async (ownPids) => {
    const after = await cpuTable();
    const own = new Set([process.pid, ...ownPids]);
    const used = [...after].filter(([pid]) => !own.has(pid)).map(([pid, cpu]) => [pid, cpu - (before.get(pid) ?? 0)] as const)
      .filter(([, seconds]) => seconds > 0).sort((a, b) => b[1] - a[1]);
    const top = await Promise.all(used.slice(0, 3).filter(([, seconds]) => seconds >= 0.05)
      .map(async ([pid, seconds]) => `${await commandOf(pid)} ${seconds.toFixed(2)} s`));
    return { seconds: used.reduce((sum, [, seconds]) => sum + seconds, 0), top };
  };
};

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** This process's open-file limits (/proc/self/limits); each connection costs one file descriptor. */
export const openFileLimits = (): { soft: number; hard: number } => {
  const match = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  const value = (text: string | undefined) => text === undefined || text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
  return { soft: value(match?.[1]), hard: value(match?.[2]) };
};

/** Load average and the busiest other processes, to tell a disturbed run from a clean one. */
export const loadAverage = (): number[] => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
