// Persistent sessions (clean session = false) of clients that stay away expire (default 7 days,
// TRUSTGATE_MQTT_SESSION_EXPIRY_SECONDS in docs/config.md). MQTT 3.1.1 has no session expiry of its own (§3.1.2.4 leaves the
// session to the server, MQTT 5 added the interval); without one, every client id that ever
// connected with clean = false kept its subscriptions and queued messages for ever.
//
// A session's clock starts when its client leaves and stops when the client id connects again.
// The clocks live where the sessions do (`SessionClocks`: this process's map for the embedded
// broker, a Redis sorted set for a cluster), so a session left on a node that died still expires
// (any node's sweep finds it) and a client that moved to another node is not expired by the old one.

export interface SessionClocks {
  /** Starts (or restarts) the clock of a session whose client left at `at` (ms). */
  sessionLeft(clientId: string, at: number): Promise<void>;
  /** Stops the clock: the client id connected. */
  sessionBack(clientId: string): Promise<void>;
  /** Up to `limit` sessions whose clients left at `before` (ms) or earlier. */
  sessionsAwaySince(before: number, limit: number): Promise<readonly string[]>;
}

export interface SessionExpiryDependencies {
  readonly expiryMs: number;
  readonly clocks: SessionClocks;
  /** Deletes the session's subscriptions, queue and incoming store. */
  readonly expire: (clientId: string) => Promise<void>;
  /** True while a client with this id is connected to this node. */
  readonly isConnectedHere: (clientId: string) => boolean;
  readonly onExpired: (clientId: string) => void;
  readonly onError: (error: unknown, clientId?: string) => void;
  readonly now?: () => number;
}

const MIN_SWEEP_INTERVAL_MS = 250;
const MAX_SWEEP_INTERVAL_MS = 60_000;
/** Sessions expired per sweep at most (the next sweep takes the rest). */
const SWEEP_BATCH = 500;

export class SessionExpiry {
  readonly #dependencies: SessionExpiryDependencies;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(dependencies: SessionExpiryDependencies) {
    this.#dependencies = dependencies;
    this.#now = dependencies.now ?? Date.now;
  }

  /** A client with a persistent session disconnected. */
  clientLeft(clientId: string): void {
    this.#dependencies.clocks.sessionLeft(clientId, this.#now()).catch((error: unknown) => this.#dependencies.onError(error, clientId));
  }

  /** A client connected (on this node). */
  clientBack(clientId: string): void {
    this.#dependencies.clocks.sessionBack(clientId).catch((error: unknown) => this.#dependencies.onError(error, clientId));
  }

  start(): void {
    const interval = Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(MIN_SWEEP_INTERVAL_MS, Math.floor(this.#dependencies.expiryMs / 4)));
    this.#timer = setInterval(() => { void this.sweep(); }, interval);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Expires the sessions away longer than the expiry; one sweep at a time. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweep().catch((error: unknown) => this.#dependencies.onError(error)).finally(() => { this.#sweeping = undefined; });
    return this.#sweeping;
  }

  async #sweep(): Promise<void> {
    const { expiryMs, clocks, expire, isConnectedHere, onExpired, onError } = this.#dependencies;
    for (const clientId of await clocks.sessionsAwaySince(this.#now() - expiryMs, SWEEP_BATCH)) {
      if (isConnectedHere(clientId)) {
        await clocks.sessionBack(clientId);
        continue;
      }
      try {
        await expire(clientId);
        // Two nodes may sweep the same session: the second finds nothing left to delete.
        await clocks.sessionBack(clientId);
        onExpired(clientId);
      } catch (error) {
        onError(error, clientId); // tried again at the next sweep
      }
    }
  }
}

/** The embedded broker's clocks. */
export class InMemorySessionClocks implements SessionClocks {
  readonly #leftAt = new Map<string, number>();

  async sessionLeft(clientId: string, at: number): Promise<void> {
    this.#leftAt.delete(clientId); // re-inserted last: the map stays ordered by time
    this.#leftAt.set(clientId, at);
  }

  async sessionBack(clientId: string): Promise<void> {
    this.#leftAt.delete(clientId);
  }

  async sessionsAwaySince(before: number, limit: number): Promise<readonly string[]> {
    const away: string[] = [];
    for (const [clientId, at] of this.#leftAt) {
      if (at > before || away.length >= limit) break;
      away.push(clientId);
    }
    return away;
  }
}
