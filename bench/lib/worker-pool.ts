import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { FromWorker, Job } from './jobs.ts';
import { track } from './processes.ts';

const WORKER = join(import.meta.dirname, '..', 'load-worker.ts');

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${(ms / 1000).toFixed(0)} s: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

/** One forked load-generator process; it runs one job at a time, any number of jobs in turn. */
export class LoadProcess {
  readonly child: ChildProcess;
  readonly #index: number;
  #onReady: () => void = () => undefined;
  #onDone: (result: unknown) => void = () => undefined;
  #onFail: (error: Error) => void = () => undefined;
  #statusWaiters: ((open: number) => void)[] = [];
  #releaseWaiters: (() => void)[] = [];
  #exit: Error | undefined;
  onMessage: ((message: FromWorker) => void) | undefined;

  constructor(index: number) {
    this.#index = index;
    this.child = track(fork(WORKER, [], {
      execArgv: ['--disable-warning=ExperimentalWarning'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }));
    this.child.on('message', (message: FromWorker) => {
      if (message.type === 'ready') this.#onReady();
      else if (message.type === 'done') this.#onDone(message.result);
      else if (message.type === 'status') this.#statusWaiters.shift()?.(message.open);
      else if (message.type === 'released') this.#releaseWaiters.shift()?.();
      else if (message.type === 'error') this.#onFail(new Error(`load worker ${this.#index}: ${message.message}`));
      this.onMessage?.(message);
    });
    this.child.once('exit', (code, signal) => {
      this.#exit = new Error(`load worker ${this.#index} exited (${code ?? signal})`);
      this.#onFail(this.#exit);
    });
  }

  /** Hands over a job; `ready` resolves once it is prepared, `done` with its result after `go`. */
  assign(job: Job): { ready: Promise<void>; done: Promise<any> } {
    if (this.#exit) throw this.#exit;
    let failReady: (error: Error) => void = () => undefined;
    let failDone: (error: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      this.#onReady = resolve;
      failReady = reject;
    });
    const done = new Promise<unknown>((resolve, reject) => {
      this.#onDone = resolve;
      failDone = reject;
    });
    ready.catch(() => undefined);
    done.catch(() => undefined);
    this.#onFail = (error) => {
      failReady(error);
      failDone(error);
    };
    this.child.send({ type: 'job', job });
    return { ready, done };
  }

  send(message: object): void {
    if (this.child.connected) this.child.send(message);
  }

  status(): Promise<number> {
    return withTimeout(new Promise<number>((resolve) => {
      this.#statusWaiters.push(resolve);
      this.send({ type: 'status' });
    }), 5_000, `status of load worker ${this.#index}`);
  }

  /** Closes every connection the process holds (DISCONNECT), so the next job starts clean. */
  release(): Promise<void> {
    if (this.#exit) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => {
      this.#releaseWaiters.push(resolve);
      this.send({ type: 'release' });
    }), 15_000, `load worker ${this.#index} closing its connections`);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await withTimeout(exited, 5_000, `load worker ${child.pid} exit`).catch(() => undefined);
  }
}

/** Load processes that take one job each per run; kept between runs so their JIT stays warm. */
export class WorkerPool {
  readonly processes: readonly LoadProcess[];

  constructor(size: number) {
    this.processes = Array.from({ length: size }, (_, i) => new LoadProcess(i));
  }

  /**
   * Gives job i to process i, waits until all are prepared (TLS contexts built, connections up),
   * then starts the measured part everywhere at once with `go`. `beforeGo` runs in between
   * (e.g. to read the broker's CPU), `afterGo` right after `go` with each job's result promise.
   * Resolves with the results in job order.
   */
  async run<T>(jobs: readonly Job[], options: { readyTimeoutMs?: number; timeoutMs: number; beforeGo?: () => Promise<void>; afterGo?: (done: readonly Promise<unknown>[]) => void }): Promise<T[]> {
    if (jobs.length > this.processes.length) throw new Error(`${jobs.length} jobs for ${this.processes.length} load processes`);
    const assigned = jobs.map((job, i) => this.processes[i]!.assign(job));
    await withTimeout(Promise.all(assigned.map((a) => a.ready)), options.readyTimeoutMs ?? 60_000, `${jobs.length} load workers getting ready`);
    await options.beforeGo?.();
    for (const process of this.processes.slice(0, jobs.length)) process.send({ type: 'go' });
    // E.g. stop one group of jobs when another group is done (each job's own promise, in job order).
    options.afterGo?.(assigned.map((a) => a.done));
    return withTimeout(Promise.all(assigned.map((a) => a.done)), options.timeoutMs, `${jobs.length} load workers finishing`);
  }

  /** Total connections held by the pool's processes. */
  async open(): Promise<number> {
    return (await Promise.all(this.processes.map((process) => process.status()))).reduce((a, b) => a + b, 0);
  }

  async release(): Promise<void> {
    await Promise.all(this.processes.map((process) => process.release()));
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((process) => process.kill()));
  }
}

/** Runs `work` with a pool of `size` fresh load processes and kills them afterwards, whatever happens. */
export const withPool = async <T>(size: number, work: (pool: WorkerPool) => Promise<T>): Promise<T> => {
  const pool = new WorkerPool(size);
  try {
    return await work(pool);
  } finally {
    await pool.close();
  }
};

/** Splits items round-robin into `parts` slices (no empty slices). */
export const split = <T>(items: readonly T[], parts: number): T[][] =>
  Array.from({ length: Math.min(parts, items.length) }, (_, p) => items.filter((_, i) => i % parts === p));
