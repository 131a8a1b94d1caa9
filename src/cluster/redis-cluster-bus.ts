import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ClusterBus, RegistryEvent, RegistryEventListener, ResyncHandler, StoredRecord } from '../registry/index.ts';
import { decodeClusterBusMessage, encodeClusterBusMessage } from './cluster-bus-message.ts';
import { LocalEventBus } from './local-event-bus.ts';
import { assertRedisPrefix, closeRedisConnection, createRedisConnection, describeRedisUrl, redisClientName } from './redis-connection.ts';

export interface RedisClusterBusOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TRUSTGATE_REDIS_URL). */
  readonly url: string;
  /** This node's id: unique per running node; messages carrying it are its own and ignored. */
  readonly nodeId: string;
  /** Namespaces the channel (`<prefix>registry-events`); default `trustgate:`. */
  readonly channelPrefix?: string;
  readonly onListenerError: (error: unknown, event: RegistryEvent) => void;
  readonly logger: Logger;
  /** How long `start()` waits for Redis before it gives up; default 10 s. */
  readonly startTimeoutMs?: number;
  /** How often a ping goes round through Redis to this bus's own subscription; default 5 s. */
  readonly pingIntervalMs?: number;
  /**
   * How long the subscription may stay silent (no ping back, no message) before it counts as lost:
   * readiness turns not ok and the connection is replaced, which resyncs once it is back. Default
   * 10 s: with the check's granularity, a dead subscription is noticed within ~11 s.
   */
  readonly silenceLimitMs?: number;
}

export const DEFAULT_CHANNEL_PREFIX = 'trustgate:';
const DEFAULT_START_TIMEOUT_MS = 10_000;
export const DEFAULT_PING_INTERVAL_MS = 5_000;
export const DEFAULT_SILENCE_LIMIT_MS = 10_000;
const PING_PREFIX = 'ping:';
// How long relay() waits for Redis to take an event before the outbox keeps it for the next
// attempt (a connection that looks ready but whose packets are dropped).
export const RELAY_TIMEOUT_MS = 2_000;

/**
 * The registry's event bus across nodes sharing one Redis: `publish` delivers to this node's
 * listeners exactly as LocalEventBus does; `relay` sends an event of the trust event outbox to
 * every node, whose listeners get it once per relay (decision 0019). A node whose subscription was down may have missed events: each time
 * the subscription comes back, the `onResync` handlers run so it can reload from the store. A
 * subscription that stops hearing Redis without its connection closing (packets dropped) is
 * found by a ping through Redis to itself: after `silenceLimitMs` without one back it counts as
 * lost (readiness says so) and its connection is replaced, which then resyncs.
 */
export class RedisClusterBus implements ClusterBus {
  readonly #local: LocalEventBus;
  readonly #resyncHandlers = new Set<ResyncHandler>();
  readonly #subscriber: Redis;
  readonly #publisher: Redis;
  readonly #channel: string;
  // This bus's own channel, for catchUp() markers: no other node hears them.
  readonly #catchUpChannel: string;
  readonly #catchUps = new Map<string, () => void>();
  readonly #nodeId: string;
  readonly #url: string;
  readonly #log: Logger;
  readonly #startTimeoutMs: number;
  // Deliveries (own and remote events) and resyncs run one at a time, in arrival order: a reload
  // that read the store before an event was stored cannot overwrite that event's effect, and
  // "verified" then "deleted" from another node cannot be applied the other way round.
  #deliveries: Promise<void> = Promise.resolve();
  // Set while a delivery runs: a listener that publishes must not queue behind itself.
  readonly #inDelivery = new AsyncLocalStorage<true>();
  #isSubscribed = false;
  #hasSubscribed = false;
  #onFirstSubscription: (() => void) | undefined;
  #abortStart: (() => void) | undefined;
  #lastError: string | undefined;
  #isClosing = false;
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  // Liveness of the subscriber path. A connection whose packets are dropped (no reset) looks
  // 'ready' to ioredis and the OS for as long as TCP keepalive takes (~2 h by default): only a
  // message that went round through Redis proves the subscription still hears the others.
  readonly #pingIntervalMs: number;
  readonly #silenceLimitMs: number;
  #liveness: NodeJS.Timeout | undefined;
  #lastHeardAt = 0;
  #lastPingAt = 0;
  // A ping Redis has not acknowledged yet: no second one piles up behind it on a dead publisher.
  #pingSentAt: number | undefined;
  #pingCount = 0;
  // Set when the subscription was found silent, until it is confirmed again: readiness names it.
  #isSilent = false;
  #reconnectForcedAt = 0;

  constructor(options: RedisClusterBusOptions) {
    const prefix = options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX;
    assertRedisPrefix(prefix, 'The cluster bus channel prefix');
    if (options.nodeId.length === 0 || options.nodeId.length > 256) throw new Error('The cluster node id must be 1 to 256 characters long.');
    this.#local = new LocalEventBus(options.onListenerError);
    this.#channel = `${prefix}registry-events`;
    this.#catchUpChannel = `${prefix}registry-events:catch-up:${randomUUID()}`;
    this.#nodeId = options.nodeId;
    this.#url = options.url;
    this.#startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.#pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.#silenceLimitMs = options.silenceLimitMs ?? DEFAULT_SILENCE_LIMIT_MS;
    if (!(this.#pingIntervalMs > 0 && this.#silenceLimitMs > this.#pingIntervalMs)) {
      throw new Error('The cluster bus ping interval must be positive and shorter than its silence limit.');
    }
    this.#log = options.logger.child({ component: 'cluster-bus', nodeId: options.nodeId });
    // The channel is (re)subscribed by hand on every 'ready', so that the moment the subscription
    // is back, after a loss, is known and triggers the resync.
    this.#subscriber = createRedisConnection(options.url, {
      connectionName: redisClientName(`${prefix}bus-sub`, options.nodeId), autoResubscribe: false,
    });
    // Pings and catch-up markers sent while Redis is away wait in ioredis's offline queue (null = no
    // retry limit); registry events never do: relay() refuses them then, and the outbox keeps them.
    this.#publisher = createRedisConnection(options.url, {
      connectionName: redisClientName(`${prefix}bus-pub`, options.nodeId), maxRetriesPerRequest: null,
    });
    this.#watch(this.#subscriber, 'subscriber');
    this.#watch(this.#publisher, 'publisher');
    this.#subscriber.on('ready', () => this.#subscribeChannel());
    this.#subscriber.on('close', () => { this.#isSubscribed = false; });
    this.#subscriber.on('message', (channel: string, text: string) => this.#onMessage(channel, text));
  }

  /** Connects both connections and subscribes; rejects (and closes) if Redis stays unreachable. */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  /**
   * Applies the event on this node (its listeners, with `stored`). The other nodes get it from the
   * trust event outbox, which holds it since its change committed, through `relay` (decision 0019).
   */
  async publish(event: RegistryEvent, stored?: StoredRecord): Promise<void> {
    if (this.#inDelivery.getStore()) await this.#local.publish(event, stored);
    else await this.#serially(() => this.#local.publish(event, stored));
  }

  /**
   * Sends an event of the trust event outbox to the other nodes, then delivers it to this node's
   * listeners as another node's event (read back from the store), in arrival order: the node that
   * drains may not be the one that made the change. Rejects at once while the publisher is not
   * connected, and after RELAY_TIMEOUT_MS without Redis's answer, so no event waits in ioredis's
   * offline queue: the outbox keeps it instead.
   */
  async relay(event: RegistryEvent): Promise<void> {
    if (this.#isClosing) throw new Error('The cluster bus is closed.');
    if (this.#publisher.status !== 'ready') throw new Error(`Redis unreachable${this.#lastError ? ` (${this.#lastError})` : ''}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#publisher.publish(this.#channel, encodeClusterBusMessage(this.#nodeId, event)),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`Redis did not take the event within ${RELAY_TIMEOUT_MS} ms`)), RELAY_TIMEOUT_MS); }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    // Not awaited: a resync in progress must not hold the outbox's drain.
    void this.#serially(() => this.#local.publish(event));
  }

  subscribe(listener: RegistryEventListener): () => void {
    return this.#local.subscribe(listener);
  }

  /**
   * Resolves true once every event Redis took from any node before this call has been delivered
   * to this node's listeners; false if that cannot be known within `timeoutMs` (Redis away). A
   * marker goes through Redis on this bus's own channel: Redis sends a subscriber its messages in
   * the order it took them, so the marker comes after them, and deliveries run in arrival order.
   * For a node about to refuse what another node's API has just allowed (its event on the way).
   */
  async catchUp(timeoutMs: number): Promise<boolean> {
    if (!this.isReady()) return false;
    const marker = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const delivered = new Promise<boolean>((resolve) => {
      this.#catchUps.set(marker, () => resolve(true));
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    this.#publisher.publish(this.#catchUpChannel, marker).catch(() => undefined);
    try {
      return await delivered;
    } finally {
      clearTimeout(timer);
      this.#catchUps.delete(marker);
    }
  }

  /** Runs `handler` each time the subscription is back after a loss (not on the first connect). */
  onResync(handler: ResyncHandler): () => void {
    this.#resyncHandlers.add(handler);
    return () => this.#resyncHandlers.delete(handler);
  }

  /** Subscribed and able to publish right now (for health checks). */
  isReady(): boolean {
    return !this.#isClosing && this.#isSubscribed && this.#publisher.status === 'ready';
  }

  readiness(): string {
    if (this.isReady()) return 'ok';
    if (this.#isSilent && !this.#isClosing) return 'Redis subscription silent: trust changes from other nodes may be missed';
    return 'Redis unreachable: trust changes from other nodes are not received';
  }

  /** Idempotent. Events not yet sent stay in the trust event outbox. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #start(): Promise<void> {
    if (this.#isClosing) throw new Error('The cluster bus is closed.');
    const subscribed = new Promise<void>((resolve) => { this.#onFirstSubscription = resolve; });
    const publisherReady = new Promise<void>((resolve) => {
      if (this.#publisher.status === 'ready') resolve();
      else this.#publisher.once('ready', () => resolve());
    });
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout' | 'closed'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#startTimeoutMs);
      this.#abortStart = () => resolve('closed');
    });
    // Only from 'wait': a connection that is already (re)connecting keeps its own schedule.
    for (const connection of [this.#subscriber, this.#publisher]) {
      if (connection.status === 'wait') connection.connect().catch(() => undefined);
    }
    const outcome = await Promise.race([Promise.all([subscribed, publisherReady]).then(() => 'ready' as const), gaveUp])
      .finally(() => clearTimeout(timer));
    this.#abortStart = undefined;
    if (outcome === 'ready' && !this.#isClosing) {
      this.#log.info({ channel: this.#channel }, 'cluster bus connected to Redis');
      return;
    }
    await this.close();
    if (outcome === 'closed' || outcome === 'ready') throw new Error('The cluster bus was closed while it was starting.');
    throw new Error(`Could not reach Redis at ${describeRedisUrl(this.#url)} within ${this.#startTimeoutMs} ms`
      + `${this.#lastError ? ` (${this.#lastError})` : ''}: check TRUSTGATE_REDIS_URL and that Redis is running.`);
  }

  async #close(): Promise<void> {
    this.#isClosing = true;
    this.#isSubscribed = false;
    clearInterval(this.#liveness);
    this.#liveness = undefined;
    this.#abortStart?.();
    await Promise.all([closeRedisConnection(this.#subscriber, 0), closeRedisConnection(this.#publisher)]);
  }

  #watch(connection: Redis, role: 'subscriber' | 'publisher'): void {
    let isUp = false;
    connection.on('ready', () => {
      isUp = true;
    });
    connection.on('close', () => {
      if (isUp && !this.#isClosing) this.#log.warn({ role, lastError: this.#lastError }, 'lost the Redis connection; reconnecting');
      isUp = false;
    });
    // ioredis reports every failed attempt; without a listener it would print them to stderr.
    connection.on('error', (error: Error) => {
      this.#lastError = error.message;
      this.#log.debug({ role, err: error.message }, 'redis connection error');
    });
  }

  #subscribeChannel(): void {
    if (this.#isClosing) return;
    this.#subscriber.subscribe(this.#channel, this.#catchUpChannel).then(() => {
      if (this.#isClosing) return;
      this.#isSubscribed = true;
      this.#lastHeardAt = Date.now();
      if (this.#isSilent) {
        this.#isSilent = false;
        this.#log.info('cluster bus subscription hears Redis again');
      }
      this.#startLiveness();
      if (!this.#hasSubscribed) {
        this.#hasSubscribed = true;
        this.#onFirstSubscription?.();
        return;
      }
      this.#log.info({ channel: this.#channel }, 'cluster bus subscription restored; resyncing from the store');
      void this.#serially(() => this.#runResyncHandlers());
    }, (error: unknown) => {
      // The connection dropped again before the subscription was confirmed: the next 'ready'
      // retries. Anything else (e.g. an ACL refusing the channel) is logged and start() times out.
      this.#lastError = error instanceof Error ? error.message : String(error);
      if (!this.#isClosing) this.#log.warn({ err: this.#lastError, channel: this.#channel }, 'could not subscribe to the cluster bus channel');
    });
  }

  async #runResyncHandlers(): Promise<void> {
    for (const handler of this.#resyncHandlers) {
      try {
        await handler();
      } catch (error) {
        this.#log.error({ err: error }, 'cluster resync failed');
      }
    }
  }

  #startLiveness(): void {
    if (this.#liveness || this.#isClosing) return;
    // Checked a few times per interval, so the bound is the silence limit plus a fraction.
    const checkEveryMs = Math.max(10, Math.min(this.#pingIntervalMs, 1_000, this.#silenceLimitMs / 5));
    this.#liveness = setInterval(() => this.#checkLiveness(), checkEveryMs);
    // Never what keeps a process alive: close() clears it anyway.
    this.#liveness.unref();
  }

  #checkLiveness(): void {
    if (this.#isClosing) return;
    const now = Date.now();
    if (this.#isSubscribed) {
      // Silence counts only while pings can go out: with the publisher reconnecting (readiness
      // already not ok) the subscriber is not to blame, and is not replaced for it.
      if (this.#publisher.status !== 'ready') {
        this.#lastHeardAt = now;
        return;
      }
      if (now - this.#lastHeardAt >= this.#silenceLimitMs) {
        this.#onSilence(now);
        return;
      }
      if (now - this.#lastPingAt >= this.#pingIntervalMs && this.#pingSentAt === undefined) this.#ping(now);
      return;
    }
    // Replaced for silence but not subscribed again: a new connection into the same black hole
    // can hang in its handshake (ioredis's connect timeout ends at the TCP connect). Replace it
    // again; one that is waiting to retry keeps ioredis's schedule.
    if (this.#isSilent && now - this.#reconnectForcedAt >= this.#silenceLimitMs
      && (this.#subscriber.status === 'connect' || this.#subscriber.status === 'ready')) {
      this.#reconnectForcedAt = now;
      this.#subscriber.disconnect(true);
    }
  }

  #ping(now: number): void {
    this.#lastPingAt = now;
    this.#pingSentAt = now;
    this.#pingCount += 1;
    this.#publisher.publish(this.#catchUpChannel, `${PING_PREFIX}${this.#pingCount}`).then(
      () => { this.#pingSentAt = undefined; },
      // The publisher lost its connection: the ping is not coming back; the next one goes out
      // once the publisher is ready again.
      () => { this.#pingSentAt = undefined; },
    );
  }

  #onSilence(now: number): void {
    const silentForMs = now - this.#lastHeardAt;
    const publisherSilent = this.#pingSentAt !== undefined && now - this.#pingSentAt >= this.#pingIntervalMs;
    this.#isSilent = true;
    this.#isSubscribed = false;
    this.#reconnectForcedAt = now;
    this.#log.warn({ silentForMs, publisherSilent, channel: this.#channel },
      'cluster bus subscription silent: reconnecting to Redis; trust changes from other nodes may be missed until the resync');
    // A new subscription resyncs from the store once it is confirmed ('ready' → subscribe).
    this.#subscriber.disconnect(true);
    // Redis did not acknowledge the ping either: the publisher's connection is as dead. ioredis
    // sends its unanswered commands again on the new connection (at least once).
    if (publisherSilent) this.#publisher.disconnect(true);
  }

  #onMessage(channel: string, text: string): void {
    // Anything that arrives proves the subscriber path alive.
    this.#lastHeardAt = Date.now();
    if (channel === this.#catchUpChannel) {
      if (text.startsWith(PING_PREFIX)) return;
      const caughtUp = this.#catchUps.get(text);
      if (caughtUp) void this.#serially(async () => caughtUp());
      return;
    }
    if (channel !== this.#channel || this.#isClosing) return;
    const message = decodeClusterBusMessage(text);
    if (!message.ok) {
      this.#log.warn({ channel, problem: message.problem, chars: text.length }, 'dropped a malformed cluster bus message');
      return;
    }
    if (message.origin === this.#nodeId) return;
    void this.#serially(() => this.#local.publish(message.event));
  }

  // Never rejects: the tasks (LocalEventBus.publish, the resync loop) report their own failures.
  #serially(task: () => Promise<void>): Promise<void> {
    const run = this.#deliveries.then(() => this.#inDelivery.run(true, task));
    this.#deliveries = run.catch(() => undefined);
    return this.#deliveries;
  }
}
