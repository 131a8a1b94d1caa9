import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { BrokerMessageEmitter } from './redis-broker-backplane.ts';
import { msgpack, type RouteTable } from './cluster-route-table.ts';

// Splits aedes' shared emitter in two (docs/decisions/0028-cluster-route-table.md):
//
// - `$…` topics (aedes' heartbeats and births, client-id takeovers, aedes-persistence-redis's
//   subscription broadcasts) still cross Redis on mqemitter-redis's channels, to every node and back
//   to this one, in the one order Redis gives them: takeovers and the persistence rely on both.
// - client topics are delivered here by an in-memory emitter, and sent through Redis only to the
//   other nodes whose filters match (the route table), batched per node and turn of the event loop
//   on that node's own channel, on the publisher connection every message of this node leaves by:
//   a publisher's messages reach each node in the order it sent them. A message nobody elsewhere
//   subscribed to never leaves.

type Listener = (packet: object, done: () => void) => void;
interface LocalEmitter {
  on(topic: string, listener: Listener, callback?: () => void): unknown;
  removeListener(topic: string, listener: Listener, callback?: () => void): unknown;
  emit(packet: object, callback?: (error?: Error) => void): void;
}
const MQEmitter = createRequire(import.meta.url)('mqemitter') as (options: object) => LocalEmitter;

const isBroadcast = (topic: string): boolean => topic.startsWith('$');

interface Batch {
  readonly packets: object[];
  readonly settles: ((error?: Error) => void)[];
  bytes: number;
}
/** A batch is sent once it holds this many messages or bytes (topics and payloads), or at the end of the turn. */
const MAX_BATCH_MESSAGES = 256;
const MAX_BATCH_BYTES = 256 * 1024;

export interface RoutedClientMessages {
  /** A message another node sent here (checked by the caller): delivered to this node's subscribers. */
  deliver(packet: object): void;
}

export const routeClientMessages = (mq: BrokerMessageEmitter, routes: RouteTable, publisher: Redis, onForwarded: (messages: number) => void): RoutedClientMessages => {
  // As aedes builds its default in-memory emitter: [MQTT-4.7.1-3] `#` also matches the parent level.
  const local = MQEmitter({ concurrency: 100, matchEmptyLevels: true });
  const on = mq.on.bind(mq);
  const removeListener = mq.removeListener.bind(mq);
  const emit = mq.emit.bind(mq);

  // aedes' heartbeats keep the other nodes' routes alive here.
  on('$SYS/+/heartbeat', (packet, done) => {
    const { payload } = packet as { payload?: unknown };
    if (Buffer.isBuffer(payload) || typeof payload === 'string') routes.heard(payload.toString());
    done();
  });

  mq.on = (topic, listener, callback) => {
    if (isBroadcast(topic)) return on(topic, listener, callback);
    local.on(topic, listener);
    // aedes answers the SUBSCRIBE (and a restored session's CONNECT) once this calls back: after
    // every other node holds the route.
    void routes.acquire(topic).then(() => callback?.());
    return mq;
  };
  mq.removeListener = (topic, listener, callback) => {
    if (isBroadcast(topic)) return removeListener(topic, listener, callback);
    local.removeListener(topic, listener);
    routes.release(topic);
    if (callback) setImmediate(callback);
    return mq;
  };
  // Messages for one node are sent together, one PUBLISH per node per turn of the event loop (a
  // client's packets read at once, a burst from many clients): ioredis' cost is per command, and
  // the receiving node's per Redis message. Bounded, so a batch never holds much memory.
  const outbox = new Map<string, Batch>();
  let isFlushScheduled = false;
  const send = (node: string, batch: Batch): void => {
    publisher.publish(routes.channelOf(node), msgpack.encode({ msgs: batch.packets })).then((receivers) => {
      if (receivers === 0) routes.unreachable(node);
      else {
        routes.forwarded += batch.packets.length;
        onForwarded(batch.packets.length);
      }
      for (const settle of batch.settles) settle();
    }, (error: Error) => {
      for (const settle of batch.settles) settle(error);
    });
  };
  const flush = (): void => {
    isFlushScheduled = false;
    for (const [node, batch] of outbox) send(node, batch);
    outbox.clear();
  };
  const enqueue = (node: string, packet: { readonly topic: string }, settle: (error?: Error) => void): void => {
    let batch = outbox.get(node);
    if (!batch) {
      batch = { packets: [], settles: [], bytes: 0 };
      outbox.set(node, batch);
    }
    batch.packets.push({ ...packet });
    batch.settles.push(settle);
    const { payload } = packet as { payload?: { length?: unknown } };
    batch.bytes += packet.topic.length + (typeof payload?.length === 'number' ? payload.length : 0);
    if (batch.packets.length >= MAX_BATCH_MESSAGES || batch.bytes >= MAX_BATCH_BYTES) {
      outbox.delete(node);
      send(node, batch);
    } else if (!isFlushScheduled) {
      isFlushScheduled = true;
      setImmediate(flush);
    }
  };

  mq.emit = (packet, callback) => {
    if (isBroadcast(packet.topic)) return emit(packet, callback);
    const nodes = routes.nodesFor(packet.topic);
    if (nodes.size === 0) return local.emit(packet, callback);
    let pending = nodes.size + 1;
    let failure: Error | undefined;
    const settle = (error?: Error): void => {
      failure ??= error;
      if (--pending === 0) callback?.(failure);
    };
    for (const node of nodes) enqueue(node, packet, settle);
    local.emit(packet, () => settle());
  };

  return { deliver: (packet) => local.emit(packet) };
};
