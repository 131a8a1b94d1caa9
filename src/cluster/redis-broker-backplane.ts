import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DomainError } from '../shared/index.ts';
import {
  assertRedisPrefix, closeRedisConnection, createRedisConnection, describeRedisUrl, redisClientName, withObservedRejections,
} from './redis-connection.ts';
import { RedisQuotaLedger } from './redis-quota-ledger.ts';
import { RedisAgentTokenRequestLimit } from './redis-agent-token-request-limit.ts';
import { RedisAgentCensus } from './redis-agent-census.ts';
import { RedisConnectBanStore } from './redis-connect-ban-store.ts';
import { orderClientIdTakeovers } from './order-client-id-takeovers.ts';
import { backplaneDropReasons, guardBackplaneMessages, type BackplaneDropReason } from './guard-backplane-messages.ts';
import { dropMalformedStoredSubscriptions } from './drop-malformed-stored-subscriptions.ts';
import { RouteTable } from './cluster-route-table.ts';
import { routeClientMessages } from './route-client-messages.ts';

// What aedes 1.2 shares between brokers on one Redis (mqemitter-redis and aedes-persistence-redis): mqemitter-redis carries
// every PUBLISH and aedes's own `$SYS/<brokerId>/…` traffic (takeover of a client id, subscription
// broadcasts), aedes-persistence-redis keeps persistent sessions, QoS 1 queues, retained messages
// and wills. Both are CommonJS without (complete) types: they are loaded here and seen through the
// narrow shapes below.

/** mqemitter's contract, as aedes uses it (`opts.mq`). */
export interface BrokerMessageEmitter {
  on(topic: string, listener: (packet: object, done: () => void) => void, callback?: () => void): unknown;
  emit(packet: { readonly topic: string }, callback?: (error?: Error) => void): void;
  removeListener(topic: string, listener: (packet: object, done: () => void) => void, callback?: () => void): unknown;
  close(callback: () => void): void;
}

/** aedes 1.x's async persistence (`opts.persistence`): aedes calls `setup` in `listen()`. */
export interface BrokerSessionPersistence {
  setup(broker: unknown): Promise<void>;
}

interface RetainedStreams {
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

/** The two writes aedes makes for each message it publishes, before the message enters `mq`. */
interface MessageWrites {
  storeRetained(packet: object): Promise<void>;
  outgoingEnqueueCombi(subscriptions: readonly object[], packet: object): Promise<void>;
}

interface MqEmitterRedisOptions {
  readonly subConn: Redis;
  readonly pubConn: Redis;
  readonly concurrency: number;
  readonly matchEmptyLevels: boolean;
}

interface MqEmitterRedisModule {
  MQEmitterRedisPrefix: new (prefix: string, options: MqEmitterRedisOptions) => BrokerMessageEmitter & { readonly state: EventEmitter };
}

const require = createRequire(import.meta.url);
const { MQEmitterRedisPrefix } = require('mqemitter-redis') as MqEmitterRedisModule;
// The package's main export wraps the async implementation in a dual callback/promise layer whose
// streams are Node Readables, which aedes 1.2 pipes (`createRetainedStreamCombi(...).pipe`); the
// bare async class returns async generators and would break retained messages.
const aedesPersistenceRedis = require('aedes-persistence-redis') as (options: { readonly conn: Redis }) => BrokerSessionPersistence & RetainedStreams & MessageWrites;

export interface RedisBrokerBackplaneOptions {
  /** `redis://…` or `rediss://…` (TRUSTGATE_REDIS_URL). */
  readonly url: string;
  readonly logger: Logger;
  /** Namespaces the channels and keys (`<prefix>mqtt:`); default `trustgate:`. */
  readonly prefix?: string;
  /** For the Redis client names only (CLIENT LIST); default the broker id. */
  readonly nodeId?: string;
  /** How long `start()` waits for Redis; default 10 s. */
  readonly startTimeoutMs?: number;
  /** Told of every message dropped: malformed from the shared channels, or published while Redis is unreachable (a metric's counter). */
  readonly onMessageDropped?: (reason: BackplaneMessageDropReason) => void;
  /** Told of the client messages sent through Redis to another node (counted once per node). */
  readonly onMessageForwarded?: (messages: number) => void;
  /** aedes' heartbeat (TRUSTGATE_MQTT_HEARTBEAT_MS), which also keeps this node's routes alive; default 60 s. */
  readonly heartbeatMs?: number;
  /** How long a new route waits for the other nodes' confirmations before the SUBACK; default 2 s. */
  readonly routeAckTimeoutMs?: number;
}

/** Why the backplane dropped a message: the `reason` label's values (trustgate_cluster_messages_dropped_total). */
export const backplaneMessageDropReasons = [...backplaneDropReasons, 'redisUnreachable'] as const;
export type BackplaneMessageDropReason = typeof backplaneMessageDropReasons[number];

export interface RedisBrokerBackplane {
  /** The aedes broker id: random per backplane, so per process start (see below). */
  readonly id: string;
  readonly mq: BrokerMessageEmitter;
  readonly persistence: BrokerSessionPersistence;
  /** The broker's quota counts, kept in Redis next to the sessions they count. */
  readonly quotaLedger: RedisQuotaLedger;
  /** aedes' heartbeat interval the route table was built for (the broker must use the same). */
  readonly heartbeatMs: number;
  /** Which node has which filters (decision 0028): its `forwarded` count, the other nodes' routes. */
  readonly routes: RouteTable;
  /** The connect bans every node holds a copy of (docs/limits.md). */
  readonly banStore: RedisConnectBanStore;
  /** Connected agents per tenant on the other nodes. */
  readonly agentCensus: RedisAgentCensus;
  /** Agents' access token requests: one per agent per minute across the nodes. */
  readonly agentTokenLimit: RedisAgentTokenRequestLimit;
  /**
   * True while all three Redis connections are up. While it is false the broker answers a CONNECT
   * with CONNACK 3 at once, and the messages published on this node are dropped (decision 0021).
   */
  isAvailable(): boolean;
  /** Optional before the broker starts: connects, or rejects with a clear error within the bound. */
  start(): Promise<void>;
  /** After the broker has closed (aedes closes `mq`, never the persistence). Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_PREFIX = 'trustgate:';
const DEFAULT_START_TIMEOUT_MS = 10_000;
/** aedes' own default heartbeat. */
const DEFAULT_HEARTBEAT_MS = 60_000;
/** A clean shutdown lets QUIT flush what is queued; a Redis that is gone gets no more than this. */
const CLOSE_BOUND_MS = 2_000;
/** A flood of malformed messages is counted in full but logged at most once per reason per this. */
const DROP_LOG_INTERVAL_MS = 10_000;
/**
 * A PUBLISH Redis has not confirmed within this is dropped, and the publisher connection is
 * replaced (a network that silently drops packets leaves it "connected"): until it is back, the
 * backplane is unavailable. Redis answers a PUBLISH in well under a millisecond on a LAN.
 */
export const PUBLISH_TIMEOUT_MS = 2_000;

const bounded = (promise: Promise<unknown>, ms: number): Promise<void> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(() => undefined, () => undefined),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); }),
  ]).finally(() => clearTimeout(timer));
};

/**
 * The shared state of the brokers of a cluster, for `Aedes.createBroker({ id, mq, persistence })`.
 * Building it does no I/O: the connections open on first use (or `start()`).
 *
 * The id is a fresh UUID, not the node id: aedes numbers its packets per broker from 0 at every
 * start and stores QoS 1 packets as `packet:<brokerId>:<counter>`, so a restarted broker that kept
 * its id would overwrite packets still queued for offline sessions; two brokers sharing an id would
 * also ignore each other's client-id takeovers (`$SYS/<id>/new/clients`).
 */
export const createRedisBrokerBackplane = (options: RedisBrokerBackplaneOptions): RedisBrokerBackplane => {
  const basePrefix = options.prefix ?? DEFAULT_PREFIX;
  assertRedisPrefix(basePrefix, 'The broker backplane prefix');
  const prefix = `${basePrefix}mqtt:`;
  const id = randomUUID();
  const log = options.logger.child({ component: 'mqtt-backplane', brokerId: id });
  const name = (role: string) => redisClientName(`${prefix}${role}`, options.nodeId ?? id);

  // Subscriber and publisher for mqemitter-redis (it resubscribes on reconnect: ioredis's
  // autoResubscribe); a third connection, with every key under the prefix, for the sessions.
  const subscriber = createRedisConnection(options.url, { connectionName: name('sub') });
  // Messages are never buffered for a Redis that is away (decision 0021): a PUBLISH waits at most
  // PUBLISH_TIMEOUT_MS for its answer, and one in flight when the connection drops is failed as it
  // drops (with 0 retries ioredis flushes its queue at each close) instead of being sent again
  // after the reconnection (a burst of stale messages).
  const publisher = createRedisConnection(options.url, {
    connectionName: name('pub'), enableAutoPipelining: true, commandTimeout: PUBLISH_TIMEOUT_MS, maxRetriesPerRequest: 0,
  });
  // Session commands wait for Redis however long it is away instead of failing after ~21 s:
  // aedes reads some of their results through streams it pipes without an error listener, where
  // a failure would be thrown. Few reach it during an outage: no CONNECT is admitted then, and
  // a CONNECT admitted just before gets CONNACK 3 after the broker's CONNACK bound.
  const sessions = createRedisConnection(options.url, { connectionName: name('sessions'), keyPrefix: prefix, maxRetriesPerRequest: null });
  const connections = [subscriber, publisher, sessions] as const;
  let isClosing = false;
  let started: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  // A connection that was never ready yet (not started: the first command connects it, and waits
  // for it) is not lost; one that was is unusable until it is ready again.
  const everReady = new WeakSet<Redis>();
  const isUsable = (connection: Redis): boolean => connection.status === 'ready' || !everReady.has(connection);
  const isAvailable = (): boolean => !isClosing && connections.every(isUsable);
  /** Messages dropped since the backplane was last available (for the log line at recovery). */
  let droppedWhileUnavailable = 0;
  let wasAvailable = true; // nothing lost yet
  const noteAvailability = (): void => {
    const available = isAvailable();
    if (available === wasAvailable || isClosing) return;
    wasAvailable = available;
    if (available) {
      log.info({ droppedMessages: droppedWhileUnavailable }, 'broker backplane reconnected to Redis: MQTT connections accepted and messages delivered again');
      droppedWhileUnavailable = 0;
    } else {
      log.warn('broker backplane cannot reach Redis: new MQTT connections are refused (CONNACK 3) and messages published on this node are dropped until it is back');
    }
  };
  for (const [role, connection] of [['subscriber', subscriber], ['publisher', publisher], ['sessions', sessions]] as const) {
    let isUp = false;
    let lastError: string | undefined;
    connection.on('ready', () => {
      if (lastError !== undefined) log.info({ role }, 'broker backplane connection to Redis restored');
      // Route changes may have been missed (subscriber) or not stored (publisher), or Redis restarted.
      if (everReady.has(connection) && routesStarted && role !== 'sessions' && !isClosing) void routes.resync();
      everReady.add(connection);
      isUp = true;
      noteAvailability();
    });
    connection.on('close', () => {
      if (isUp && !isClosing) log.warn({ role, lastError }, 'broker backplane lost the Redis connection; reconnecting');
      isUp = false;
      noteAvailability();
    });
    connection.on('error', (error: Error) => {
      lastError = error.message;
      log.debug({ role, err: error.message }, 'redis connection error');
    });
  }

  const mq = new MQEmitterRedisPrefix(prefix, {
    subConn: withObservedRejections(subscriber),
    pubConn: withObservedRejections(publisher),
    // As aedes builds its default in-memory mq: [MQTT-4.7.1-3] `#` also matches the parent level.
    concurrency: 100,
    matchEmptyLevels: true,
  });
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const routes = new RouteTable({
    brokerId: id, keyPrefix: prefix, channelPrefix: `${basePrefix}mqtt-`, commands: publisher, subscriber, heartbeatMs,
    ackTimeoutMs: options.routeAckTimeoutMs ?? PUBLISH_TIMEOUT_MS, logger: log,
  });
  let routesStarted = false;
  // Client messages go only where a filter matches (decision 0028); `$` topics still cross Redis.
  const routed = routeClientMessages(mq, routes, publisher, (messages) => options.onMessageForwarded?.(messages));
  // Before any message can arrive (the subscriber connects on first use): a malformed one would
  // otherwise throw out of the subscriber's socket handler and crash this node, and every other.
  const lastDropLogged = new Map<BackplaneDropReason, { at: number; since: number }>();
  guardBackplaneMessages(subscriber, prefix, ({ reason, channel, bytes }) => {
    options.onMessageDropped?.(reason);
    const now = Date.now();
    const last = lastDropLogged.get(reason);
    if (last && now - last.at < DROP_LOG_INTERVAL_MS) {
      last.since++;
      return;
    }
    lastDropLogged.set(reason, { at: now, since: 0 });
    log.error({ reason, channel, bytes, droppedUnlogged: last?.since ?? 0 }, 'dropped a malformed message from the broker backplane');
  }, {
    routesChannel: routes.routesChannel,
    ownChannel: routes.ownChannel,
    onMessage: (message) => {
      if (message.kind === 'messages') for (const packet of message.packets) routed.deliver(packet);
      else if (message.kind === 'ack') routes.onAck(message.seq);
      else if (message.kind === 'routes') routes.onUpdate(message.update);
    },
  });
  // Every message aedes publishes needs Redis: `$` ones cross it, and a client message may have to
  // reach another node or a persistent session's queue. While the
  // publisher is not connected a message is dropped at once (counted), and one Redis does not
  // confirm within PUBLISH_TIMEOUT_MS is dropped too: nothing is held for later (decision 0021).
  // aedes is told it went out: an error would close the connection of the client that published
  // it, which got its PUBACK already (aedes acknowledges before it publishes).
  const dropMessage = (): void => {
    droppedWhileUnavailable += 1;
    options.onMessageDropped?.('redisUnreachable');
  };
  const emitThroughRedis = mq.emit.bind(mq);
  mq.emit = (packet, callback) => {
    if (isClosing) return emitThroughRedis(packet, callback);
    if (!isUsable(publisher)) {
      dropMessage();
      setImmediate(() => callback?.());
      return;
    }
    emitThroughRedis(packet, (error) => {
      if (error && !isClosing) {
        dropMessage();
        log.debug({ err: error.message }, 'dropped a message Redis did not take');
        // A PUBLISH unanswered on a connection that looks fine: the network drops packets. A new
        // connection (unavailable until it is ready) rather than more messages into the void.
        if (error.message === 'Command timed out' && publisher.status === 'ready') {
          log.warn({ timeoutMs: PUBLISH_TIMEOUT_MS }, 'Redis did not confirm a PUBLISH in time: reconnecting the broker backplane publisher');
          publisher.disconnect(true);
        }
      }
      callback?.();
    });
  };
  // Before aedes registers its listeners: one client id on two nodes at once leaves one session.
  orderClientIdTakeovers(mq, id);
  // mqemitter-redis re-emits connection errors on `state`; an 'error' nobody listens to throws.
  mq.state.on('error', (error: Error) => log.debug({ err: error.message }, 'mqemitter-redis error'));
  // Its close() QUITs both connections and calls back on their 'end', which a connection that is
  // reconnecting to an absent Redis never emits: aedes's broker.close() would wait for ever. QUIT
  // is waited for (bounded) only while connected; then both connections are dropped.
  const closeMqEmitter = mq.close.bind(mq);
  let mqClosed: Promise<void> | undefined;
  const closeMq = (): Promise<void> => {
    mqClosed ??= (async () => {
      // aedes closes the emitter during the broker's close: a shutdown, not a lost connection.
      isClosing = true;
      const isConnected = subscriber.status === 'ready' && publisher.status === 'ready';
      // The others forget this node's routes now rather than after 3 heartbeats.
      await bounded(routes.close(), isConnected ? CLOSE_BOUND_MS : 0);
      await bounded(new Promise<void>((resolve) => closeMqEmitter(resolve)), isConnected ? CLOSE_BOUND_MS : 0);
      await Promise.all([closeRedisConnection(subscriber, 0), closeRedisConnection(publisher, 0)]);
    })();
    return mqClosed;
  };
  mq.close = (callback) => {
    void closeMq().then(() => callback());
  };

  const persistence = aedesPersistenceRedis({ conn: withObservedRejections(sessions) });
  // aedes pipes the retained-message stream of a SUBSCRIBE without an error listener, so a Redis
  // failure while it is read would be thrown. Heard here, it ends that stream: the subscriber misses
  // retained messages, the node stays up.
  const onRetainedStreamError = (error: Error) => log.warn({ err: error.message }, 'could not read retained messages from Redis');
  const createRetainedStream = persistence.createRetainedStream.bind(persistence);
  const createRetainedStreamCombi = persistence.createRetainedStreamCombi.bind(persistence);
  persistence.createRetainedStream = (pattern) => createRetainedStream(pattern).on('error', onRetainedStreamError);
  persistence.createRetainedStreamCombi = (patterns) => createRetainedStreamCombi(patterns).on('error', onRetainedStreamError);
  // While Redis is unreachable a message is dropped whole (mq.emit above): neither retained nor
  // queued for the persistent sessions that are away. Waiting for Redis instead would hold the
  // publisher's connection (aedes reads nothing more from it until the message is through) and
  // deliver the message late.
  const storeRetained = persistence.storeRetained.bind(persistence);
  const outgoingEnqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  persistence.storeRetained = async (packet) => {
    if (isAvailable()) await storeRetained(packet);
  };
  persistence.outgoingEnqueueCombi = async (subscriptions, packet) => {
    if (isAvailable()) await outgoingEnqueueCombi(subscriptions, packet);
  };
  // A stored subscription setup() cannot decode would stop every node's start (exit 70) until it is
  // removed by hand: removed here (logged), then setup() runs again; it only adds to its index, so
  // what the failed run added is added again, not twice. aedes requires an async function.
  const setup = persistence.setup.bind(persistence);
  persistence.setup = async (broker) => {
    // Before aedes accepts any client: the others' routes are known, this node's are listened for.
    await routes.start();
    routesStarted = true;
    try {
      await setup(broker);
    } catch (error) {
      if (await dropMalformedStoredSubscriptions(sessions, log) === 0) throw error;
      await setup(broker);
    }
  };

  // The caps' counts taken on the way of a message (retained, queued for a session away) fail at
  // once while Redis is unreachable (the message is then neither retained nor queued: it is dropped
  // anyway) instead of holding the publisher's connection. The others (a session's expiry clock)
  // wait for Redis as the session commands do.
  const quotaLedger = new RedisQuotaLedger(sessions, log);
  for (const method of ['claimRetained', 'releaseRetained', 'reserveQueued'] as const) {
    const original = quotaLedger[method].bind(quotaLedger) as (...args: unknown[]) => Promise<unknown>;
    (quotaLedger as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => isAvailable()
      ? original(...args)
      : Promise.reject(new DomainError('mqtt.clusterUnavailable', 'Redis is unreachable: the broker backplane is unavailable'));
  }

  // Connect limits (docs/limits.md): their own two connections, outside the availability above
  // (a ban that cannot be shared still holds on the node that made it).
  // Named apart from aedes' three (`<prefix>limits:…`): they are not the backplane's.
  const limitsName = (role: string) => redisClientName(`${basePrefix}limits:${role}`, options.nodeId ?? id);
  const limits = withObservedRejections(createRedisConnection(options.url, { connectionName: limitsName('commands') }));
  const limitsSubscriber = createRedisConnection(options.url, { connectionName: limitsName('sub') });
  for (const connection of [limits, limitsSubscriber]) connection.on('error', (error: Error) => log.debug({ err: error.message }, 'connect limits: Redis connection error'));
  const banStore = new RedisConnectBanStore(limits, limitsSubscriber, basePrefix, log);
  const agentCensus = new RedisAgentCensus(limits, basePrefix, id, log);
  const agentTokenLimit = new RedisAgentTokenRequestLimit(limits, basePrefix);

  const start = async (): Promise<void> => {
    const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    let lastError: string | undefined;
    const onError = (error: Error) => { lastError = error.message; };
    const ready = connections.map((connection) => new Promise<void>((resolve) => {
      connection.on('error', onError);
      if (connection.status === 'ready') return resolve();
      connection.once('ready', () => resolve());
      if (connection.status === 'wait') connection.connect().catch(() => undefined);
    }));
    let timer: NodeJS.Timeout | undefined;
    const isReady = await Promise.race([
      Promise.all(ready).then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); }),
    ]).finally(() => {
      clearTimeout(timer);
      for (const connection of connections) connection.off('error', onError);
    });
    if (isReady) return;
    await closeBackplane();
    throw new Error(`The MQTT broker backplane could not reach Redis at ${describeRedisUrl(options.url)} within ${timeoutMs} ms`
      + `${lastError ? ` (${lastError})` : ''}: check TRUSTGATE_REDIS_URL and that Redis is running.`);
  };

  const closeBackplane = (): Promise<void> => {
    closed ??= close();
    return closed;
  };
  const close = async (): Promise<void> => {
    isClosing = true;
    await closeMq();
    // Not persistence.destroy(): all it adds is unsubscribing a listener from the mq closed above
    // (and it rejects if no broker ever set the persistence up). QUIT lets pending replies arrive.
    await closeRedisConnection(sessions, CLOSE_BOUND_MS);
    await Promise.all([closeRedisConnection(limits, CLOSE_BOUND_MS), closeRedisConnection(limitsSubscriber, 0)]);
  };

  return {
    id,
    mq,
    persistence,
    quotaLedger,
    heartbeatMs,
    routes,
    banStore,
    agentCensus,
    agentTokenLimit,
    isAvailable,
    start: () => {
      started ??= start();
      return started;
    },
    close: closeBackplane,
  };
};
