import type { ClusterBus } from './cluster-bus.ts';
import type { RegistryEvent, StoredRecord } from './events.ts';
import type { RegistryEventSink } from './ports.ts';
import type { TrustEventOutbox } from './trust-event-outbox.ts';

/** What the relay reports (pino's Logger fits). */
export interface RelayLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface TrustEventRelayOptions {
  readonly outbox: TrustEventOutbox;
  readonly bus: Pick<ClusterBus, 'relay'>;
  readonly log: RelayLog;
  /** How often the outbox is checked for events another node left (stopped, killed, cut off from
   *  Redis); default 1 s. This node's own events are sent at once (`flush`). */
  readonly pollMs?: number;
  /** At most this many events wait; past it, the oldest are deleted (Redis away for long: the
   *  trust change counter still brings every node to the database's state). Default 10,000. */
  readonly maxPending?: number;
  /** First and longest wait between attempts while the bus cannot take events. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

export interface TrustEventRelay {
  /** Sends what waits in the outbox now; resolves once a drain that began after this call ended,
   *  or at once while the bus cannot take events (the relay keeps retrying), or after `boundMs`. */
  flush(boundMs: number): Promise<void>;
  /** Idempotent; waits for a drain in progress, at most STOP_WAIT_MS. */
  stop(): Promise<void>;
}

export const DEFAULT_RELAY_POLL_MS = 1_000;
export const DEFAULT_MAX_PENDING_TRUST_EVENTS = 10_000;
const BATCH = 100;
const STOP_WAIT_MS = 2_000;

/**
 * Publishes the trust events written with their changes until the cluster bus took them
 * (decision 0019): at once after this node's own changes, every `pollMs` for events any node left
 * behind, and with a growing pause (`retryMinMs` doubling up to `retryMaxMs`) while Redis is away.
 * A row is deleted only after the bus took its event. Several nodes' relays may run; their
 * drains take turns (TrustEventOutbox.drain), and an event sent twice is applied twice harmlessly.
 */
export const relayTrustEvents = ({
  outbox, bus, log, pollMs = DEFAULT_RELAY_POLL_MS, maxPending = DEFAULT_MAX_PENDING_TRUST_EVENTS, retryMinMs = 100, retryMaxMs = 5_000,
}: TrustEventRelayOptions): TrustEventRelay => {
  let isStopped = false;
  let running: Promise<void> | undefined;
  let isRequested = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;
  // Resolved at the end of the next pass that starts after they were added.
  let waiting: (() => void)[] = [];

  const pass = async (): Promise<void> => {
    const waiters = waiting;
    waiting = [];
    try {
      let sentInPass = 0;
      for (;;) {
        const { sent, dropped } = await outbox.drain((event) => bus.relay(event), BATCH);
        sentInPass += sent;
        if (dropped > 0) log.error({ dropped }, 'dropped unreadable rows from the trust event outbox');
        if (sent + dropped < BATCH) break;
      }
      if (failures > 0) log.info({ sent: sentInPass, failedAttempts: failures }, 'trust events in the outbox sent to the other nodes again');
      failures = 0;
    } catch (error) {
      failures += 1;
      if (failures === 1) {
        log.warn({ err: error instanceof Error ? error.message : String(error) },
          'could not send trust events to the other nodes; they stay in the outbox and are sent once Redis takes them');
      }
      try {
        const deleted = await outbox.trim(maxPending);
        if (deleted > 0) {
          log.error({ deleted, maxPending },
            'trust event outbox full: deleted its oldest events; the other nodes still reach the database\'s trust state by the trust change counter');
        }
      } catch {
        // The database is away too: nothing grows meanwhile.
      }
    } finally {
      for (const resolve of waiters) resolve();
    }
  };

  const run = (): void => {
    if (running || isStopped || retry) return;
    isRequested = false;
    running = pass().finally(() => {
      running = undefined;
      if (isStopped) return;
      if (failures > 0) {
        const pause = Math.min(retryMaxMs, retryMinMs * 2 ** (failures - 1));
        retry = setTimeout(() => { retry = undefined; run(); }, pause);
        retry.unref();
      } else if (isRequested || waiting.length > 0) {
        run();
      }
    });
  };

  const kick = (): void => {
    isRequested = true;
    run();
  };

  const timer = setInterval(kick, pollMs);
  timer.unref();
  kick();

  return {
    async flush(boundMs) {
      if (isStopped) return;
      // Redis away: answering now, the relay keeps trying on its schedule.
      if (failures > 0) {
        kick();
        return;
      }
      let bound: NodeJS.Timeout | undefined;
      const ended = new Promise<void>((resolve) => {
        waiting.push(resolve);
        bound = setTimeout(resolve, boundMs);
      });
      kick();
      await ended;
      clearTimeout(bound);
    },
    async stop() {
      if (isStopped) return;
      isStopped = true;
      clearInterval(timer);
      clearTimeout(retry);
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((resolve) => { wait = setTimeout(resolve, STOP_WAIT_MS); })]);
      clearTimeout(wait);
      for (const resolve of waiting.splice(0)) resolve();
      if (failures > 0) log.warn({}, 'stopped with trust events still in the outbox: any other node, or this one when it starts again, sends them');
    },
  };
};

/** How long a use case waits for its event to reach Redis before its API answer (Redis slow). */
export const FLUSH_BOUND_MS = 1_000;

/**
 * The sink the registry's use cases publish to: the event is applied on this node (the bus), then
 * the outbox, which holds the same event since the commit, is flushed to the other nodes before
 * the use case answers, so an agent that connects to another node right after the answer finds
 * its CA there (catchUp). A flush that cannot reach Redis does not hold the answer: the relay
 * sends the event later.
 */
export const publishThroughOutbox = (bus: Pick<ClusterBus, 'publish' | 'catchUp'>, relay: Pick<TrustEventRelay, 'flush'>): RegistryEventSink => ({
  async publish(event: RegistryEvent, stored?: StoredRecord) {
    await bus.publish(event, stored);
    await relay.flush(FLUSH_BOUND_MS);
  },
  catchUp: (boundMs) => bus.catchUp(boundMs),
});
