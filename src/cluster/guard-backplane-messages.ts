import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { RouteUpdate } from './cluster-route-table.ts';

// mqemitter-redis decodes every message of its channels (`<prefix>mqtt:<topic>`, msgpack
// `{ id, msg }`) inside the subscriber connection's 'messageBuffer'/'pmessageBuffer' listeners and
// hands `msg` to mqemitter and aedes unchecked: one malformed message (not msgpack, no topic, a
// topic that is no string, …) throws there, out of ioredis's socket handler, and crashes every node
// at once. Redis is trusted, but one bad message must not take the cluster down: each message is
// checked here first, and only one of the shape mqemitter-redis itself publishes reaches it.

// msgpack-lite as mqemitter-redis resolves it (its dependency, not ours): the very decoder it uses.
const requireAsMqEmitterRedis = createRequire(createRequire(import.meta.url).resolve('mqemitter-redis'));
const msgpack = requireAsMqEmitterRedis('msgpack-lite') as { decode(buffer: Buffer): unknown };
// The one channel mqemitter-redis ignores before decoding (Sentinel's announcements).
const SENTINEL_HELLO = '__sentinel__:hello';

/** Why a message was dropped: the `reason` label's values. */
export const backplaneDropReasons = ['undecodable', 'notAPacket', 'badTopic', 'topicMismatch', 'badFields', 'badSubscriptionBroadcast', 'badRouteUpdate'] as const;
export type BackplaneDropReason = typeof backplaneDropReasons[number];

export interface DroppedBackplaneMessage {
  readonly reason: BackplaneDropReason;
  /** The Redis channel, cut to a bounded length. */
  readonly channel: string;
  readonly bytes: number;
}

const MAX_CHANNEL_SHOWN = 200;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);

// aedes-persistence-redis tells the other brokers of every subscription on these topics, as JSON
// its listener parses and reads without a check: `{ clientId, subs: [{ topic, qos }] }` for an
// added one, `{ clientId, subs: [{ topic }] }` (no qos) for a removed one. A removal dropped here
// is not only lost for the other brokers: the sender waits for its own broadcast to come back
// before its removeSubscriptions resolves, so a persistent session's UNSUBSCRIBE, a clean CONNECT
// over a stored session and the session expiry would wait for ever.
const SUBSCRIPTION_ADDED = '$SYS/sub/add';
const SUBSCRIPTION_REMOVED = '$SYS/sub/rm';

const isSubscriptionBroadcast = (payload: Buffer | string, isRemoval: boolean): boolean => {
  let decoded: unknown;
  try {
    decoded = JSON.parse(payload.toString());
  } catch {
    return false;
  }
  return isRecord(decoded) && typeof decoded.clientId === 'string' && Array.isArray(decoded.subs)
    && decoded.subs.every((sub: unknown) => isRecord(sub) && typeof sub.topic === 'string' && sub.topic !== ''
      && (typeof sub.qos === 'number' || (isRemoval && sub.qos === undefined)));
};

// What aedes reads of a packet to deliver it (mqtt-packet writes the payload as bytes or a
// string; aedes's own listeners call payload.toString()). aedes always sends a payload.
const checkPacketFields = ({ payload, qos, retain }: Record<string, unknown>): BackplaneDropReason | undefined => {
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return 'badFields';
  if (qos !== undefined && qos !== 0 && qos !== 1 && qos !== 2) return 'badFields';
  if (retain !== undefined && typeof retain !== 'boolean') return 'badFields';
  return undefined;
};

/** What arrived on a node's own channel or the routes channel (route-client-messages.ts, cluster-route-table.ts). */
export type RoutedMessage =
  | { readonly kind: 'messages'; readonly packets: readonly { readonly topic: string }[] }
  | { readonly kind: 'ack'; readonly seq: number }
  | { readonly kind: 'routes'; readonly update: RouteUpdate }
  | { readonly kind: 'dropped'; readonly reason: BackplaneDropReason };

const MAX_NODE_ID = 200;
const isFilterList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((filter) => typeof filter === 'string' && filter !== '' && !filter.startsWith('$'));

/** Checks a message of the routes channel (`isRoutes`) or of this node's own channel, decoded with mqemitter-redis's msgpack. */
export const checkRoutedMessage = (message: Buffer, isRoutes: boolean): RoutedMessage => {
  let decoded: unknown;
  try {
    decoded = msgpack.decode(message);
  } catch {
    return { kind: 'dropped', reason: 'undecodable' };
  }
  if (!isRecord(decoded)) return { kind: 'dropped', reason: 'notAPacket' };
  if (isRoutes) {
    const { node, seq, add, rm, reset, down } = decoded;
    const isUpdate = typeof node === 'string' && node !== '' && node.length <= MAX_NODE_ID && Number.isSafeInteger(seq)
      && (add === undefined || isFilterList(add)) && (rm === undefined || isFilterList(rm))
      && (reset === undefined || typeof reset === 'boolean') && (down === undefined || typeof down === 'boolean');
    return isUpdate ? { kind: 'routes', update: decoded as unknown as RouteUpdate } : { kind: 'dropped', reason: 'badRouteUpdate' };
  }
  if (decoded.ack !== undefined) return Number.isSafeInteger(decoded.ack) ? { kind: 'ack', seq: decoded.ack as number } : { kind: 'dropped', reason: 'badRouteUpdate' };
  const { msgs } = decoded;
  if (!Array.isArray(msgs) || msgs.length === 0) return { kind: 'dropped', reason: 'notAPacket' };
  // One node's batch: one malformed message in it and the batch is dropped whole (a node never
  // sends one; whoever forged it gets nothing delivered).
  for (const msg of msgs as unknown[]) {
    if (!isRecord(msg)) return { kind: 'dropped', reason: 'notAPacket' };
    // Only client topics are routed; `$` ones cross on mqemitter-redis's channels.
    if (typeof msg.topic !== 'string' || msg.topic === '' || msg.topic.startsWith('$')) return { kind: 'dropped', reason: 'badTopic' };
    const fields = checkPacketFields(msg);
    if (fields) return { kind: 'dropped', reason: fields };
  }
  return { kind: 'messages', packets: msgs as { topic: string }[] };
};

/** Undefined for a message mqemitter-redis can take, else why not. Exported for its unit test. */
export const checkBackplaneMessage = (channel: string, message: Buffer, prefix: string): BackplaneDropReason | undefined => {
  if (channel === SENTINEL_HELLO) return undefined;
  let packet: unknown;
  try {
    packet = msgpack.decode(message);
  } catch {
    return 'undecodable';
  }
  if (!isRecord(packet) || typeof packet.id !== 'string' || !isRecord(packet.msg)) return 'notAPacket';
  const msg = packet.msg;
  if (typeof msg.topic !== 'string' || msg.topic === '') return 'badTopic';
  // mqemitter-redis publishes every message on the channel named by its topic; the prefix that
  // mqemitter-redis strips before aedes sees the topic is in the channel's name.
  if (msg.topic !== channel) return 'topicMismatch';
  const fields = checkPacketFields(msg);
  if (fields) return fields;
  const { payload } = msg as { payload: Buffer | string };
  const isAdded = channel === `${prefix}${SUBSCRIPTION_ADDED}`;
  const isRemoved = channel === `${prefix}${SUBSCRIPTION_REMOVED}`;
  if ((isAdded || isRemoved) && !isSubscriptionBroadcast(payload, isRemoved)) return 'badSubscriptionBroadcast';
  return undefined;
};

/**
 * Puts the check in front of the listeners mqemitter-redis registered on `subscriber` (call it
 * right after building the emitter, before any message can arrive): a malformed message goes to
 * `onDropped`, never to them.
 */
export const guardBackplaneMessages = (
  subscriber: Redis, prefix: string, onDropped: (dropped: DroppedBackplaneMessage) => void,
  routed?: { readonly routesChannel: string; readonly ownChannel: string; onMessage(message: RoutedMessage): void },
): void => {
  const drop = (reason: BackplaneDropReason, channel: Buffer, message: Buffer) => {
    onDropped({ reason, channel: channel.subarray(0, MAX_CHANNEL_SHOWN).toString('utf8'), bytes: message.length });
  };
  const listeners = subscriber.listeners('messageBuffer') as ((channel: Buffer, message: Buffer) => void)[];
  subscriber.removeAllListeners('messageBuffer');
  subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
    const name = channel.toString('utf8');
    // The route table's channels are not mqemitter-redis's: checked and handed over here.
    if (routed && (name === routed.routesChannel || name === routed.ownChannel)) {
      const checked = checkRoutedMessage(message, name === routed.routesChannel);
      if (checked.kind === 'dropped') return drop(checked.reason, channel, message);
      return routed.onMessage(checked);
    }
    const reason = checkBackplaneMessage(name, message, prefix);
    if (reason !== undefined) return drop(reason, channel, message);
    for (const listener of listeners) listener(channel, message);
  });
  const patternListeners = subscriber.listeners('pmessageBuffer') as ((pattern: Buffer, channel: Buffer, message: Buffer) => void)[];
  subscriber.removeAllListeners('pmessageBuffer');
  subscriber.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, message: Buffer) => {
    const reason = checkBackplaneMessage(channel.toString('utf8'), message, prefix);
    if (reason !== undefined) return drop(reason, channel, message);
    for (const listener of patternListeners) listener(pattern, channel, message);
  });
};
