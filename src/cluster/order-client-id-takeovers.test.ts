import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { orderClientIdTakeovers } from './order-client-id-takeovers.ts';
import type { BrokerMessageEmitter } from './redis-broker-backplane.ts';

type Packet = { readonly topic: string; readonly payload: Buffer };
type Listener = (packet: object, done: () => void) => void;

/** One Redis: what any node emits is held until `deliver()` hands it to every node, in emit order. */
const fakeRedis = () => {
  const queue: Packet[] = [];
  const emitters: { listeners: { topic: string; listener: Listener }[] }[] = [];
  const matches = (pattern: string, topic: string) => pattern === topic || (pattern === '$SYS/+/new/clients' && /^\$SYS\/[^/]+\/new\/clients$/.test(topic));
  const emitter = (failPublish = false): BrokerMessageEmitter => {
    const state = { listeners: [] as { topic: string; listener: Listener }[] };
    emitters.push(state);
    return {
      on(topic, listener, callback) {
        state.listeners.push({ topic, listener });
        callback?.();
        return undefined;
      },
      emit(packet, callback) {
        if (failPublish) return callback?.(new Error('Redis is away'));
        queue.push(packet as Packet);
        callback?.();
      },
      removeListener(topic, listener, callback) {
        state.listeners = state.listeners.filter((entry) => !(entry.topic === topic && entry.listener === listener));
        callback?.();
        return undefined;
      },
      close: (callback) => callback(),
    };
  };
  const deliver = () => {
    for (const packet of queue.splice(0)) {
      for (const state of emitters) for (const { topic, listener } of state.listeners) if (matches(topic, packet.topic)) listener({ ...packet }, () => undefined);
    }
  };
  return { emitter, deliver };
};

/** A node as aedes behaves: announces its new connections and closes its own on another's announcement. */
const node = (mq: BrokerMessageEmitter, brokerId: string) => {
  orderClientIdTakeovers(mq, brokerId);
  const connected = new Set<string>();
  const closed: string[] = [];
  mq.on('$SYS/+/new/clients', (packet, done) => {
    const { topic, payload } = packet as Packet;
    const clientId = payload.toString('utf8');
    if (topic.split('/')[1] !== brokerId && connected.delete(clientId)) closed.push(clientId);
    done();
  });
  return {
    closed,
    connect: (clientId: string) => {
      connected.add(clientId);
      mq.emit({ topic: `$SYS/${brokerId}/new/clients`, payload: Buffer.from(clientId) } as Packet);
    },
  };
};

describe('orderClientIdTakeovers', () => {
  test('one client id on two nodes at once: only the node announced first closes its connection', () => {
    const redis = fakeRedis();
    const a = node(redis.emitter(), 'a');
    const b = node(redis.emitter(), 'b');
    a.connect('acme_pump-1');
    b.connect('acme_pump-1');
    redis.deliver();
    assert.deepEqual(a.closed, ['acme_pump-1'], 'a was announced first: b took the id over');
    assert.deepEqual(b.closed, [], 'b heard a\'s announcement while its own was on its way: it keeps its connection');
  });

  test('a takeover after the own announcement came back closes the connection, and other client ids are not held back', () => {
    const redis = fakeRedis();
    const a = node(redis.emitter(), 'a');
    const b = node(redis.emitter(), 'b');
    a.connect('acme_pump-1');
    redis.deliver();
    a.connect('acme_pump-2');
    b.connect('acme_pump-1');
    redis.deliver();
    assert.deepEqual(a.closed, ['acme_pump-1']);
    assert.deepEqual(b.closed, []);
  });

  test('an announcement that could not be published does not keep the id from being taken over', () => {
    const redis = fakeRedis();
    const a = node(redis.emitter(true), 'a');
    const b = node(redis.emitter(), 'b');
    a.connect('acme_pump-1');
    b.connect('acme_pump-1');
    redis.deliver();
    assert.deepEqual(a.closed, ['acme_pump-1']);
  });

  test('a listener removed with the function it was added with is removed', () => {
    const redis = fakeRedis();
    const mq = redis.emitter();
    orderClientIdTakeovers(mq, 'a');
    const heard: string[] = [];
    const listener: Listener = (packet, done) => { heard.push((packet as Packet).topic); done(); };
    mq.on('$SYS/+/new/clients', listener);
    mq.removeListener('$SYS/+/new/clients', listener);
    redis.emitter().emit({ topic: '$SYS/b/new/clients', payload: Buffer.from('acme_pump-1') } as Packet);
    redis.deliver();
    assert.deepEqual(heard, []);
  });
});
