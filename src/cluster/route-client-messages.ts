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
//   other nodes whose filters match (the route table), one PUBLISH each on that node's own channel,
//   on the publisher connection every message of this node leaves by: a publisher's messages reach
//   each node in the order it sent them. A message nobody elsewhere subscribed to never leaves.

type Listener = (packet: object, done: () => void) => void;
interface LocalEmitter {
  on(topic: string, listener: Listener, callback?: () => void): unknown;
  removeListener(topic: string, listener: Listener, callback?: () => void): unknown;
  emit(packet: object, callback?: (error?: Error) => void): void;
}
const MQEmitter = createRequire(import.meta.url)('mqemitter') as (options: object) => LocalEmitter;

const isBroadcast = (topic: string): boolean => topic.startsWith('$');

export interface RoutedClientMessages {
  /** A message another node sent here (checked by the caller): delivered to this node's subscribers. */
  deliver(packet: object): void;
}

export const routeClientMessages = (mq: BrokerMessageEmitter, routes: RouteTable, publisher: Redis, onForwarded: () => void): RoutedClientMessages => {
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
    const encoded = msgpack.encode({ msg: { ...packet } });
    for (const node of nodes) {
      publisher.publish(routes.channelOf(node), encoded).then((receivers) => {
        if (receivers === 0) routes.unreachable(node);
        else {
          routes.forwarded += 1;
          onForwarded();
        }
        settle();
      }, settle);
    }
    local.emit(packet, () => settle());
  };

  return { deliver: (packet) => local.emit(packet) };
};
