import type { FromWorker } from '../lib/jobs.ts';

// The load process's side of the protocol with its parent (bench/lib/worker-pool.ts).

export const send = (message: FromWorker): void => {
  process.send?.(message);
};

/** What the parent's control messages trigger; each job sets the ones it needs. */
export const hooks = {
  go: (): void => undefined,
  credit: (_received: number): void => undefined,
  expect: (_total: number): void => undefined,
  stop: (): void => undefined,
};

/** Tells the parent this process is prepared and waits for `go`. */
export const ready = (): Promise<void> => new Promise((resolve) => {
  hooks.go = resolve;
  send({ type: 'ready' });
});

/** The monotonic clock in ms: the same in every process of the machine, so latencies can cross them. */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export const cpuMs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

/** Runs `work` over items on `count` concurrent lanes until done or `deadline` (monotonic ms). */
export const lanes = async <T>(items: readonly T[], count: number, deadline: number, work: (item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(count, items.length) }, async () => {
    while (next < items.length && nowMs() < deadline) await work(items[next++]!);
  }));
};

