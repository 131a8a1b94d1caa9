import type { BrokerMessageEmitter } from './redis-broker-backplane.ts';

// aedes takes a client id over between nodes by announcing each new connection on
// `$SYS/<brokerId>/new/clients`: every other node closes its own connection with that id. Two
// connections with one client id on two nodes within milliseconds each announce themselves, each
// node hears the other's announcement while its own is still on its way, and both close: no
// session is left (issue 12, item 7). Redis hands every subscriber the messages in one order, so
// "the one announced last wins" is a decision every node takes alike: a node whose own
// announcement of that id has not come back yet heard an earlier one, and keeps its connection
// (the other node closes its own when this node's announcement reaches it).

const ANNOUNCEMENTS = '$SYS/+/new/clients';
// An announcement that never comes back (lost with a Redis connection) must not keep the id from
// being taken over for ever: after this long it no longer counts as on its way.
const ANNOUNCEMENT_BOUND_MS = 10_000;

type Listener = (packet: object, done: () => void) => void;

const announcedClientId = (packet: object): string => {
  const { payload } = packet as { payload?: unknown };
  return Buffer.isBuffer(payload) ? payload.toString('utf8') : String(payload);
};

/**
 * Wraps `mq` (before aedes is built on it) so that a takeover announced by another node is not
 * heard, by aedes or by any other listener of the announcements, while this node's own announcement
 * of that client id is still on its way through Redis.
 */
export const orderClientIdTakeovers = (mq: BrokerMessageEmitter, brokerId: string): void => {
  const ownTopic = `$SYS/${brokerId}/new/clients`;
  /** Client id → this node's announcements of it not yet back from Redis, oldest first. */
  const onTheirWay = new Map<string, object[]>();
  const forget = (clientId: string, announcement?: object): void => {
    const pending = onTheirWay.get(clientId);
    if (!pending) return;
    // Back from Redis: the oldest (Redis keeps their order); lost: that one, if still counted.
    const index = announcement === undefined ? 0 : pending.indexOf(announcement);
    if (index >= 0) pending.splice(index, 1);
    if (pending.length === 0) onTheirWay.delete(clientId);
  };

  const on = mq.on.bind(mq);
  const emit = mq.emit.bind(mq);
  const removeListener = mq.removeListener.bind(mq);
  // Registered before aedes' listeners on the same topic, so it runs first for every message.
  on(ANNOUNCEMENTS, (packet, done) => {
    if ((packet as { topic: string }).topic === ownTopic) forget(announcedClientId(packet));
    done();
  });

  mq.emit = (packet, callback) => {
    if (packet.topic !== ownTopic) return emit(packet, callback);
    const clientId = announcedClientId(packet);
    const announcement = {};
    onTheirWay.set(clientId, [...(onTheirWay.get(clientId) ?? []), announcement]);
    setTimeout(() => forget(clientId, announcement), ANNOUNCEMENT_BOUND_MS).unref();
    return emit(packet, (error) => {
      if (error) forget(clientId, announcement); // not published: it will not come back
      callback?.(error);
    });
  };

  const wrapped = new WeakMap<Listener, Listener>();
  mq.on = (topic, listener, callback) => {
    if (topic !== ANNOUNCEMENTS) return on(topic, listener, callback);
    const heard: Listener = (packet, done) => {
      const isOwn = (packet as { topic: string }).topic === ownTopic;
      if (!isOwn && onTheirWay.has(announcedClientId(packet))) return done();
      listener(packet, done);
    };
    wrapped.set(listener, heard);
    return on(topic, heard, callback);
  };
  mq.removeListener = (topic, listener, callback) => removeListener(topic, wrapped.get(listener) ?? listener, callback);
};
