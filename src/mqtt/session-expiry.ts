// Persistent sessions (clean session = false) of clients that stay away expire (SPEC "MQTT
// broker": default 7 days). MQTT 3.1.1 has no session expiry of its own (§3.1.2.4 leaves the
// session to the server, MQTT 5 added the interval); without one, every client id that ever
// connected with clean = false kept its subscriptions and queued messages for ever.
//
// The clock of a session starts when its client leaves, on the node it left, and stops when the
// client id connects again on any node (aedes announces every connection on
// `$SYS/<brokerId>/new/clients`). A node that starts gives every session already stored (Redis)
// a full expiry period from its start, so a session whose node died still expires.

export interface SessionExpiryDependencies {
  readonly expiryMs: number;
  /** Deletes the session's subscriptions, queue and incoming store. */
  readonly expire: (clientId: string) => Promise<void>;
  /** True while a client with this id is connected to this node. */
  readonly isConnectedHere: (clientId: string) => boolean;
  readonly onExpired: (clientId: string) => void;
  readonly onError: (clientId: string, error: unknown) => void;
  readonly now?: () => number;
}

const MIN_SWEEP_INTERVAL_MS = 250;
const MAX_SWEEP_INTERVAL_MS = 60_000;

export class SessionExpiry {
  readonly #awaySince = new Map<string, number>();
  readonly #dependencies: SessionExpiryDependencies;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(dependencies: SessionExpiryDependencies) {
    this.#dependencies = dependencies;
    this.#now = dependencies.now ?? Date.now;
  }

  /** A client with a persistent session disconnected (or its session was found at start). */
  clientLeft(clientId: string): void {
    this.#awaySince.set(clientId, this.#now());
  }

  /** The client id connected again, here or on another node. */
  clientBack(clientId: string): void {
    this.#awaySince.delete(clientId);
  }

  get tracked(): number {
    return this.#awaySince.size;
  }

  start(): void {
    const interval = Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(MIN_SWEEP_INTERVAL_MS, Math.floor(this.#dependencies.expiryMs / 4)));
    this.#timer = setInterval(() => { void this.sweep(); }, interval);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Expires every session away longer than the expiry; one sweep at a time. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweep().finally(() => { this.#sweeping = undefined; });
    return this.#sweeping;
  }

  async #sweep(): Promise<void> {
    const { expiryMs, expire, isConnectedHere, onExpired, onError } = this.#dependencies;
    const deadline = this.#now() - expiryMs;
    for (const [clientId, since] of [...this.#awaySince]) {
      if (since > deadline) continue;
      this.#awaySince.delete(clientId);
      if (isConnectedHere(clientId)) continue;
      try {
        await expire(clientId);
        onExpired(clientId);
      } catch (error) {
        // Tried again at the next sweep.
        this.#awaySince.set(clientId, since);
        onError(clientId, error);
      }
    }
  }
}
