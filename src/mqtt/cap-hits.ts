import type { Logger } from 'pino';
import type { BrokerCap, BrokerMetrics } from './broker-metrics.ts';

// One place that counts and logs every cap hit. The metric counts each one; the log says what
// happened and why, but at most once a second per cap (with how many it left out), so a client
// hammering a cap cannot turn the log into the next unbounded resource.
const LOG_INTERVAL_MS = 1_000;

export class CapHits {
  readonly #counters: Map<BrokerCap, { inc(): void }>;
  readonly #logger: Logger;
  readonly #lastLoggedAt = new Map<BrokerCap, number>();
  readonly #unlogged = new Map<BrokerCap, number>();

  constructor(metrics: BrokerMetrics, logger: Logger) {
    this.#logger = logger;
    // Label children resolved once: a hit on the hot path is one Map lookup and an increment.
    this.#counters = new Map([...metrics.brokerCaps].map((cap) => [cap, metrics.capHits.labels(cap)]));
  }

  /** Counts a hit and logs it (rate-limited). `disconnected`: the client's connection was closed. */
  hit(cap: BrokerCap, fields: Readonly<Record<string, unknown>>, message: string, disconnected = false): void {
    this.#counters.get(cap)?.inc();
    const now = Date.now();
    if (!disconnected && now - (this.#lastLoggedAt.get(cap) ?? 0) < LOG_INTERVAL_MS) {
      this.#unlogged.set(cap, (this.#unlogged.get(cap) ?? 0) + 1);
      return;
    }
    this.#lastLoggedAt.set(cap, now);
    const unlogged = this.#unlogged.get(cap) ?? 0;
    this.#unlogged.delete(cap);
    this.#logger.warn({ cap, ...fields, ...(unlogged > 0 ? { alsoHitSinceLastLog: unlogged } : {}) }, message);
  }
}
