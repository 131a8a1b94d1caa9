import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

// Which node has which topic filters (EMQX's route table, docs/decisions/0028-cluster-route-table.md).
// Each node keeps its own filters in Redis (the set `<prefix>mqtt:routes:<brokerId>`, with a TTL its
// heartbeat refreshes, and its id in the sorted set `<prefix>mqtt:route-nodes` scored by that
// expiry), counts their references locally (one per subscription of a client of this node), and
// tells the other nodes of each change on one channel. Every node keeps a copy of the others'
// filters in a matcher, loaded at start and after a Redis reconnection, kept current by that
// channel: a client message goes to the nodes whose filters match it, and nowhere else.

// qlobber and msgpack-lite as the packages we build on resolve them: the matcher mqemitter uses
// (same wildcards, same `#` semantics) and the encoding mqemitter-redis uses.
const requireAsMqEmitter = createRequire(createRequire(import.meta.url).resolve('mqemitter'));
const requireAsMqEmitterRedis = createRequire(createRequire(import.meta.url).resolve('mqemitter-redis'));
interface Matcher {
  add(filter: string, value: string): void;
  remove(filter: string, value: string): void;
  match(topic: string): Set<string>;
}
const { QlobberDedup } = requireAsMqEmitter('qlobber') as { QlobberDedup: new (options: object) => Matcher };
export const msgpack = requireAsMqEmitterRedis('msgpack-lite') as { encode(value: unknown): Buffer; decode(buffer: Buffer): unknown };

/** A change of one node's filters, as sent on the routes channel (msgpack). */
export interface RouteUpdate {
  readonly node: string;
  readonly seq: number;
  readonly add?: readonly string[];
  readonly rm?: readonly string[];
  /** The node rewrote its whole set (after a Redis reconnection): read it again. */
  readonly reset?: boolean;
  /** The node stopped: forget its filters. */
  readonly down?: boolean;
}

export interface RouteTableOptions {
  readonly brokerId: string;
  /** Key prefix, e.g. `trustgate:mqtt:`. */
  readonly keyPrefix: string;
  /** Channel prefix, e.g. `trustgate:mqtt-` (outside the `…mqtt:` channels mqemitter-redis listens to). */
  readonly channelPrefix: string;
  /** The publisher connection (no key prefix): route changes and messages leave in one order. */
  readonly commands: Redis;
  readonly subscriber: Redis;
  readonly heartbeatMs: number;
  /** How long a new route waits for the other nodes to confirm they hold it. */
  readonly ackTimeoutMs: number;
  readonly logger: Logger;
}

interface RemoteNode {
  readonly filters: Set<string>;
  lastHeardMs: number;
  /** Updates heard while its set is read: replayed on the snapshot. */
  pending?: RouteUpdate[];
  generation: number;
}

/** The other nodes' confirmations of one route change: counted from before Redis says how many to expect. */
interface Confirmations {
  confirmed: number;
  expected?: number;
  resolve?: () => void;
}

/** A node unheard for this many heartbeats is dead (aedes' own rule for publishing its wills). */
export const HEARTBEATS_TO_DEATH = 3;

export class RouteTable {
  readonly routesChannel: string;
  readonly ownChannel: string;
  readonly #options: RouteTableOptions;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #ownKey: string;
  readonly #nodesKey: string;
  /** This node's filters and how many subscriptions hold each. */
  readonly #refs = new Map<string, number>();
  /** The filters Redis and the other nodes were told of. */
  #announced = new Set<string>();
  readonly #dirty = new Set<string>();
  #nextFlush: { promise: Promise<void>; resolve: () => void } | undefined;
  readonly #inFlight = new Map<string, Promise<void>>();
  #seq = 0;
  readonly #acks = new Map<number, Confirmations>();
  readonly #nodes = new Map<string, RemoteNode>();
  readonly #matcher = new QlobberDedup({ separator: '/', wildcard_one: '+', wildcard_some: '#', match_empty_levels: true });
  #timer: NodeJS.Timeout | undefined;
  #resyncing: Promise<void> | undefined;
  #resyncAgain = false;
  #isClosed = false;
  /** Messages sent to other nodes (one per node), for the metric and the tests. */
  forwarded = 0;

  constructor(options: RouteTableOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#ttlMs = HEARTBEATS_TO_DEATH * options.heartbeatMs;
    this.#ownKey = this.routesKey(options.brokerId);
    this.#nodesKey = `${options.keyPrefix}route-nodes`;
    this.routesChannel = `${options.channelPrefix}routes`;
    this.ownChannel = this.channelOf(options.brokerId);
  }

  routesKey(brokerId: string): string { return `${this.#options.keyPrefix}routes:${brokerId}`; }
  channelOf(brokerId: string): string { return `${this.#options.channelPrefix}node:${brokerId}`; }

  /** Subscribes, loads the others' routes, writes its own; then refreshes them every heartbeat. */
  async start(): Promise<void> {
    await this.resync();
    this.#timer ??= setInterval(() => this.#tick(), this.#options.heartbeatMs).unref();
  }

  /** The other nodes with a filter matching `topic`. */
  nodesFor(topic: string): Set<string> {
    return this.#matcher.match(topic);
  }

  /** The other nodes this node holds routes of (tests, logs). */
  remoteFilters(brokerId: string): ReadonlySet<string> | undefined {
    return this.#nodes.get(brokerId)?.filters;
  }

  /**
   * One more subscription of a client of this node on `filter`. Resolves once every other node
   * that heard the route confirmed it holds it (or after ackTimeoutMs): a message accepted by any of
   * them after that is sent here.
   */
  acquire(filter: string): Promise<void> {
    this.#refs.set(filter, (this.#refs.get(filter) ?? 0) + 1);
    if (this.#announced.has(filter)) return this.#inFlight.get(filter) ?? Promise.resolve();
    this.#dirty.add(filter);
    return this.#scheduleFlush();
  }

  /** One subscription less; the route goes when the last one does (not waited for: a stale route costs one message the other node drops). */
  release(filter: string): void {
    const refs = (this.#refs.get(filter) ?? 0) - 1;
    if (refs > 0) {
      this.#refs.set(filter, refs);
      return;
    }
    this.#refs.delete(filter);
    if (this.#announced.has(filter)) {
      this.#dirty.add(filter);
      void this.#scheduleFlush();
    }
  }

  /** A node was heard (its heartbeat, a route change): alive. An unknown one's routes are read. */
  heard(brokerId: string): void {
    if (brokerId === this.#options.brokerId || this.#isClosed) return;
    const node = this.#nodes.get(brokerId);
    if (node) node.lastHeardMs = Date.now();
    else void this.#load(this.#nodeEntry(brokerId));
  }

  /** A message sent to `brokerId` reached no subscriber: its connection to Redis is gone (killed, or reconnecting: it resyncs then). */
  unreachable(brokerId: string): void {
    this.#forget(brokerId, 'its channel has no subscriber');
  }

  onUpdate(update: RouteUpdate): void {
    if (update.node === this.#options.brokerId || this.#isClosed) return;
    if (update.down) return this.#forget(update.node, 'it stopped');
    let node = this.#nodes.get(update.node);
    const isNew = node === undefined;
    node ??= this.#nodeEntry(update.node);
    node.lastHeardMs = Date.now();
    // A node first heard of may have routes from before: read them (and replay this update on them).
    if (update.reset || isNew) void this.#load(node, update.node);
    if (!update.reset) this.#apply(node, update.node, update);
    node.pending?.push(update);
    // Applied before it is confirmed: a message this node accepts after the SUBACK goes there.
    if (update.add && update.add.length > 0) {
      this.#options.commands.publish(this.channelOf(update.node), msgpack.encode({ ack: update.seq, node: this.#options.brokerId }))
        .catch((error: Error) => this.#log.debug({ err: error.message }, 'could not confirm a route'));
    }
  }

  onAck(seq: number): void {
    const waiting = this.#acks.get(seq);
    if (!waiting) return;
    waiting.confirmed += 1;
    if (waiting.expected === undefined || waiting.confirmed < waiting.expected) return;
    this.#acks.delete(seq);
    waiting.resolve?.();
  }

  /**
   * After a Redis reconnection (or at start): listen again, read every live node's routes, and
   * write this node's whole set again (Redis may have restarted), telling the others to reread it.
   */
  resync(): Promise<void> {
    if (this.#resyncing) {
      this.#resyncAgain = true;
      return this.#resyncing;
    }
    this.#resyncing = (async () => {
      do {
        this.#resyncAgain = false;
        try {
          await this.#resyncOnce();
        } catch (error) {
          this.#log.warn({ err: (error as Error).message }, 'could not resync the cluster route table; retrying at the next heartbeat or reconnection');
          this.#needsResync = true;
        }
      } while (this.#resyncAgain && !this.#isClosed);
    })().finally(() => { this.#resyncing = undefined; });
    return this.#resyncing;
  }

  #needsResync = false;

  async #resyncOnce(): Promise<void> {
    const { commands, subscriber, brokerId } = this.#options;
    this.#needsResync = false;
    await subscriber.subscribe(this.routesChannel, this.ownChannel);
    const now = Date.now();
    const live = new Set((await commands.zrangebyscore(this.#nodesKey, now, '+inf')).filter((id) => id !== brokerId));
    for (const id of [...this.#nodes.keys()]) if (!live.has(id)) this.#forget(id, 'it is no longer registered');
    await Promise.all([...live].map((id) => this.#load(this.#nodes.get(id) ?? this.#nodeEntry(id), id)));
    this.#announced = new Set(this.#refs.keys());
    const write = commands.multi().del(this.#ownKey);
    if (this.#announced.size > 0) write.sadd(this.#ownKey, ...this.#announced);
    await write.pexpire(this.#ownKey, this.#ttlMs)
      .zadd(this.#nodesKey, now + this.#ttlMs, brokerId)
      .zremrangebyscore(this.#nodesKey, '-inf', now)
      .publish(this.routesChannel, msgpack.encode({ node: brokerId, seq: ++this.#seq, reset: true } satisfies RouteUpdate))
      .exec();
  }

  /** Forgets its own routes in Redis and tells the others (a clean stop); bounded by the caller. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    clearInterval(this.#timer);
    for (const waiting of this.#acks.values()) waiting.resolve?.();
    this.#acks.clear();
    const { commands, brokerId } = this.#options;
    if (commands.status !== 'ready') return;
    await commands.multi().del(this.#ownKey).zrem(this.#nodesKey, brokerId)
      .publish(this.routesChannel, msgpack.encode({ node: brokerId, seq: ++this.#seq, down: true } satisfies RouteUpdate))
      .exec().catch(() => undefined);
  }

  #scheduleFlush(): Promise<void> {
    if (!this.#nextFlush) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => { resolve = done; });
      this.#nextFlush = { promise, resolve };
      // Subscriptions made in one turn of the event loop (a SUBSCRIBE's filters, a restored session,
      // a burst of connects) share one write and one round of confirmations.
      setImmediate(() => void this.#flush());
    }
    return this.#nextFlush.promise;
  }

  async #flush(): Promise<void> {
    const waiter = this.#nextFlush;
    this.#nextFlush = undefined;
    const add: string[] = [];
    const rm: string[] = [];
    for (const filter of this.#dirty) {
      const wanted = this.#refs.has(filter);
      if (wanted && !this.#announced.has(filter)) add.push(filter);
      else if (!wanted && this.#announced.has(filter)) rm.push(filter);
    }
    this.#dirty.clear();
    for (const filter of add) this.#announced.add(filter);
    for (const filter of rm) this.#announced.delete(filter);
    if (this.#isClosed || (add.length === 0 && rm.length === 0)) return waiter?.resolve();
    const announced = this.#announce(add, rm);
    for (const filter of add) this.#inFlight.set(filter, announced);
    await announced;
    for (const filter of add) if (this.#inFlight.get(filter) === announced) this.#inFlight.delete(filter);
    waiter?.resolve();
  }

  async #announce(add: string[], rm: string[]): Promise<void> {
    const { commands, brokerId, ackTimeoutMs } = this.#options;
    const seq = ++this.#seq;
    // Registered before the PUBLISH: a fast node's confirmation can arrive (on the subscriber
    // connection) before Redis' answer to the PUBLISH (on this one).
    const waiting: Confirmations = { confirmed: 0 };
    if (add.length > 0) this.#acks.set(seq, waiting);
    let receivers: number;
    try {
      const write = commands.multi();
      if (add.length > 0) write.sadd(this.#ownKey, ...add);
      if (rm.length > 0) write.srem(this.#ownKey, ...rm);
      const results = await write.pexpire(this.#ownKey, this.#ttlMs).zadd(this.#nodesKey, Date.now() + this.#ttlMs, brokerId)
        .publish(this.routesChannel, msgpack.encode({ node: brokerId, seq, ...(add.length > 0 ? { add } : {}), ...(rm.length > 0 ? { rm } : {}) } satisfies RouteUpdate))
        .exec();
      const published = results?.at(-1);
      if (!published || published[0]) throw published?.[0] ?? new Error('the transaction was discarded');
      receivers = Number(published[1]);
    } catch (error) {
      this.#acks.delete(seq);
      // Written again in full once Redis is back (resync); the SUBACK is not held for it: while
      // Redis is away a SUBSCRIBE is refused anyway (decision 0021).
      this.#needsResync = true;
      this.#log.warn({ err: (error as Error).message, added: add.length, removed: rm.length }, 'could not store a change of the cluster route table; it is rewritten once Redis is back');
      return;
    }
    if (add.length === 0) return;
    // Every subscriber of the routes channel but this node is another node (or a monitoring
    // client, which never confirms: then the bound applies).
    waiting.expected = receivers - 1;
    if (waiting.confirmed >= waiting.expected || this.#isClosed) {
      this.#acks.delete(seq);
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#acks.delete(seq);
        this.#log.warn({ missing: (waiting.expected ?? 0) - waiting.confirmed, ackTimeoutMs }, 'not every node confirmed a new route in time: answered the SUBSCRIBE anyway');
        resolve();
      }, ackTimeoutMs);
      waiting.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #nodeEntry(brokerId: string): RemoteNode {
    const node: RemoteNode = { filters: new Set(), lastHeardMs: Date.now(), generation: 0 };
    this.#nodes.set(brokerId, node);
    return node;
  }

  /** Reads a node's set; updates heard meanwhile are applied at once and replayed on the snapshot. */
  async #load(node: RemoteNode, brokerId = this.#idOf(node)): Promise<void> {
    const generation = ++node.generation;
    node.pending = [];
    let filters: string[];
    try {
      filters = await this.#options.commands.smembers(this.routesKey(brokerId));
    } catch (error) {
      if (node.generation === generation) node.pending = undefined;
      this.#needsResync = true;
      this.#log.warn({ err: (error as Error).message, node: brokerId }, 'could not read the routes of a node');
      return;
    }
    if (node.generation !== generation || this.#nodes.get(brokerId) !== node) return;
    const pending = node.pending ?? [];
    node.pending = undefined;
    const snapshot = new Set(filters);
    for (const filter of node.filters) if (!snapshot.has(filter)) this.#matcher.remove(filter, brokerId);
    for (const filter of snapshot) if (!node.filters.has(filter)) this.#matcher.add(filter, brokerId);
    node.filters.clear();
    for (const filter of snapshot) node.filters.add(filter);
    for (const update of pending) if (!update.reset) this.#apply(node, brokerId, update);
  }

  #idOf(node: RemoteNode): string {
    for (const [id, candidate] of this.#nodes) if (candidate === node) return id;
    throw new Error('a route table entry without a node');
  }

  #apply(node: RemoteNode, brokerId: string, update: RouteUpdate): void {
    for (const filter of update.add ?? []) {
      if (node.filters.has(filter)) continue;
      node.filters.add(filter);
      this.#matcher.add(filter, brokerId);
    }
    for (const filter of update.rm ?? []) {
      if (!node.filters.delete(filter)) continue;
      this.#matcher.remove(filter, brokerId);
    }
  }

  #forget(brokerId: string, reason: string): void {
    const node = this.#nodes.get(brokerId);
    if (!node) return;
    this.#nodes.delete(brokerId);
    for (const filter of node.filters) this.#matcher.remove(filter, brokerId);
    this.#log.info({ node: brokerId, filters: node.filters.size, reason }, 'forgot the routes of a cluster node');
  }

  /** Every heartbeat: refresh this node's routes' TTL, forget nodes unheard for 3 heartbeats. */
  #tick(): void {
    if (this.#isClosed) return;
    const now = Date.now();
    for (const [id, node] of this.#nodes) {
      if (now - node.lastHeardMs > this.#ttlMs) this.#forget(id, `unheard for ${HEARTBEATS_TO_DEATH} heartbeats`);
    }
    const { commands, brokerId } = this.#options;
    if (commands.status !== 'ready') return;
    if (this.#needsResync) {
      void this.resync();
      return;
    }
    commands.multi().pexpire(this.#ownKey, this.#ttlMs).zadd(this.#nodesKey, now + this.#ttlMs, brokerId).zremrangebyscore(this.#nodesKey, '-inf', now).exec()
      .then((results) => {
        // The set expired (this node stalled longer than its TTL) or Redis lost it: write it again.
        if (this.#announced.size > 0 && results?.[0]?.[1] === 0) void this.resync();
      }, (error: Error) => this.#log.debug({ err: error.message }, 'could not refresh the cluster routes'));
  }
}
