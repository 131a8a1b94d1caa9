import type { RegistryEventFollower } from './follow-registry-events.ts';

export interface TrustChangePollOptions {
  readonly follower: Pick<RegistryEventFollower, 'converge'>;
  /** TRUSTGATE_CLUSTER_CONVERGENCE_MS: how often the database's trust change counter is read. */
  readonly intervalMs: number;
  readonly log: { warn(fields: object, message: string): void };
}

export interface TrustChangePoll {
  /** Idempotent; waits for a check in progress, at most STOP_WAIT_MS (a database that does not
   *  answer must not hold the shutdown). */
  stop(): Promise<void>;
}

const STOP_WAIT_MS = 2_000;

/**
 * Bounds how long a cluster node can trust what the database no longer trusts (or refuse what it
 * now trusts) when an event was lost: every `intervalMs`, one read of the trust change counter,
 * and a resync when it moved (decision 0018). A failed read (database away) is reported once per
 * outage and tried again at the next tick.
 */
export const pollTrustChanges = ({ follower, intervalMs, log }: TrustChangePollOptions): TrustChangePoll => {
  let running: Promise<void> | undefined;
  let failing = false;
  const check = async (): Promise<void> => {
    try {
      await follower.converge();
      failing = false;
    } catch (error) {
      if (!failing) log.warn({ err: error }, 'could not check the database for missed trust changes; trying again');
      failing = true;
    }
  };
  const timer = setInterval(() => {
    running ??= check().finally(() => { running = undefined; });
  }, intervalMs);
  // Never the reason the process stays up.
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((resolve) => { wait = setTimeout(resolve, STOP_WAIT_MS); })]);
      clearTimeout(wait);
    },
  };
};
