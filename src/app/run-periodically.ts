/** A job that runs at once and then every interval, never two runs at a time. */
export interface PeriodicJob {
  /** The run under way (the first one starts at once), for tests and shutdown. */
  readonly settled: () => Promise<void>;
  /** No run starts after this; resolves when the one under way has ended. */
  close(): Promise<void>;
}

// Node-level chores (audit retention, the CA expiry warnings): each run waits for the previous one,
// the timer does not keep the process alive, and a run that throws does not stop the next (each
// job logs its own failures; this only keeps the chain going).
export const runPeriodically = (job: () => Promise<void>, intervalMs: number): PeriodicJob => {
  let running: Promise<void> = Promise.resolve();
  let isClosed = false;
  const run = () => {
    running = running.then(() => (isClosed ? undefined : job())).catch(() => undefined);
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return {
    settled: () => running,
    async close() {
      isClosed = true;
      clearInterval(timer);
      await running;
    },
  };
};
