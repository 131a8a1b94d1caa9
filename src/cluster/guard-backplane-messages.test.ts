import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { checkBackplaneMessage, checkRoutedMessage, guardBackplaneMessages, type DroppedBackplaneMessage } from './guard-backplane-messages.ts';

const require = createRequire(import.meta.url);
const msgpack = require('msgpack-lite') as { encode(value: unknown): Buffer };

const prefix = 'trustgate:mqtt:';
const channel = `${prefix}tc/acme/acme_pump-1/o/temperature`;
const good = { id: 'h1', msg: { topic: channel, payload: Buffer.from('21.5'), qos: 1, retain: false } };

describe('the broker backplane message guard', () => {
  it('passes what mqemitter-redis publishes, and Sentinel hellos (mqemitter-redis ignores those itself)', () => {
    assert.equal(checkBackplaneMessage(channel, msgpack.encode(good), prefix), undefined);
    assert.equal(checkBackplaneMessage(channel, msgpack.encode({ id: 'h2', msg: { topic: channel, payload: 'text' } }), prefix), undefined);
    assert.equal(checkBackplaneMessage('__sentinel__:hello', Buffer.from('not msgpack'), prefix), undefined);
  });

  it('names why anything else is dropped', () => {
    const cases: [unknown, string][] = [
      [Buffer.from([0xc1]), 'undecodable'],
      [Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), 'undecodable'],
      [msgpack.encode(null), 'notAPacket'],
      [msgpack.encode([good]), 'notAPacket'],
      [msgpack.encode({ msg: good.msg }), 'notAPacket'],
      [msgpack.encode({ id: 'x', msg: 'text' }), 'notAPacket'],
      [msgpack.encode({ id: 'x', msg: {} }), 'badTopic'],
      [msgpack.encode({ id: 'x', msg: { topic: 42 } }), 'badTopic'],
      [msgpack.encode({ id: 'x', msg: { ...good.msg, topic: 'trustgate:mqtt:tc/other/x/o/y' } }), 'topicMismatch'],
      [msgpack.encode({ id: 'x', msg: { ...good.msg, payload: 42 } }), 'badFields'],
      [msgpack.encode({ id: 'x', msg: { ...good.msg, qos: 3 } }), 'badFields'],
      [msgpack.encode({ id: 'x', msg: { ...good.msg, retain: 'yes' } }), 'badFields'],
      [msgpack.encode({ id: 'x', msg: { topic: channel } }), 'badFields'],
      [msgpack.encode({ id: 'x', msg: { topic: channel, payload: null } }), 'badFields'],
    ];
    for (const [message, reason] of cases) {
      const bytes = Buffer.isBuffer(message) ? message : Buffer.from(message as Uint8Array);
      assert.equal(checkBackplaneMessage(channel, bytes, prefix), reason, bytes.toString('hex').slice(0, 40));
    }
  });

  it('checks the subscription broadcasts of aedes-persistence-redis, whose listener parses their JSON unchecked', () => {
    const broadcast = (payload: string) => msgpack.encode({ id: 'b', msg: { topic: `${prefix}$SYS/sub/add`, payload: Buffer.from(payload), qos: 0 } });
    const check = (payload: string) => checkBackplaneMessage(`${prefix}$SYS/sub/add`, broadcast(payload), prefix);
    assert.equal(check(JSON.stringify({ clientId: 'acme_app', subs: [{ topic: 'tc/acme/#', qos: 1 }] })), undefined);
    for (const bad of ['not json', 'null', '{"clientId":"a"}', '{"clientId":"a","subs":[{"qos":1}]}', '{"clientId":"a","subs":[{"topic":5,"qos":1}]}']) {
      assert.equal(check(bad), 'badSubscriptionBroadcast', bad);
    }
    // A removal as aedes-persistence-redis sends it: no qos (its sender waits for it to come back).
    const removal = (payload: string) => checkBackplaneMessage(`${prefix}$SYS/sub/rm`,
      msgpack.encode({ id: 'r', msg: { topic: `${prefix}$SYS/sub/rm`, payload: Buffer.from(payload), qos: 0 } }), prefix);
    assert.equal(removal(JSON.stringify({ clientId: 'acme_app', subs: [{ topic: 'tc/acme/#' }] })), undefined);
    assert.equal(removal('{"clientId":"a","subs":[{"qos":1}]}'), 'badSubscriptionBroadcast');
    assert.equal(check(JSON.stringify({ clientId: 'acme_app', subs: [{ topic: 'tc/acme/#' }] })), 'badSubscriptionBroadcast', 'an addition has a qos');
    // A client's topic that merely ends the same way is not one.
    const clientTopic = `${prefix}tc/acme/acme_pump-1/o/$SYS/sub/add`;
    assert.equal(checkBackplaneMessage(clientTopic, msgpack.encode({ id: 'c', msg: { topic: clientTopic, payload: Buffer.from('x') } }), prefix), undefined);
  });

  it('hands good messages to the listeners it found and malformed ones to onDropped, with the channel cut short', () => {
    const subscriber = new EventEmitter();
    const seen: string[] = [];
    subscriber.on('messageBuffer', (c: Buffer) => seen.push(`message ${c.toString()}`));
    subscriber.on('pmessageBuffer', (_p: Buffer, c: Buffer) => seen.push(`pmessage ${c.toString()}`));
    const dropped: DroppedBackplaneMessage[] = [];
    guardBackplaneMessages(subscriber as unknown as Redis, prefix, (d) => dropped.push(d));

    subscriber.emit('messageBuffer', Buffer.from(channel), msgpack.encode(good));
    subscriber.emit('pmessageBuffer', Buffer.from('trustgate:mqtt:tc/acme*'), Buffer.from(channel), msgpack.encode(good));
    const longChannel = `trustgate:mqtt:${'x'.repeat(5_000)}`;
    subscriber.emit('pmessageBuffer', Buffer.from('trustgate:mqtt:*'), Buffer.from(longChannel), Buffer.from([0xc1]));
    assert.deepEqual(seen, [`message ${channel}`, `pmessage ${channel}`]);
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]!.reason, 'undecodable');
    assert.equal(dropped[0]!.bytes, 1);
    assert.ok(dropped[0]!.channel.length <= 200);
  });
});

describe('the route table\'s channels (decision 0028)', () => {
  const message = { topic: 'tc/acme/acme_pump-1/o/temperature', payload: Buffer.from('21.5'), qos: 1, retain: false };

  it('passes a batch of routed messages, a confirmation and route changes', () => {
    assert.deepEqual(checkRoutedMessage(msgpack.encode({ msgs: [message, { ...message, payload: 'text', qos: 0 }] }), false),
      { kind: 'messages', packets: [message, { ...message, payload: 'text', qos: 0 }] });
    assert.deepEqual(checkRoutedMessage(msgpack.encode({ ack: 7, node: 'n' }), false), { kind: 'ack', seq: 7 });
    for (const update of [{ node: 'n', seq: 1, add: ['tc/a/#'] }, { node: 'n', seq: 2, rm: ['tc/a/#'] }, { node: 'n', seq: 3, reset: true }, { node: 'n', seq: 4, down: true }]) {
      assert.equal(checkRoutedMessage(msgpack.encode(update), true).kind, 'routes', JSON.stringify(update));
    }
  });

  it('drops anything else, with its reason', () => {
    const cases: [Buffer, boolean, string][] = [
      [Buffer.from([0xc1]), false, 'undecodable'],
      [Buffer.from([0xc1]), true, 'undecodable'],
      [msgpack.encode(null), false, 'notAPacket'],
      [msgpack.encode({ msg: message }), false, 'notAPacket'],
      [msgpack.encode({ msgs: [] }), false, 'notAPacket'],
      [msgpack.encode({ msgs: ['text'] }), false, 'notAPacket'],
      [msgpack.encode({ msgs: [{ ...message, topic: 42 }] }), false, 'badTopic'],
      // `$` topics (takeovers, heartbeats) never come this way: forged here, they are dropped.
      [msgpack.encode({ msgs: [{ ...message, topic: '$SYS/x/new/clients' }] }), false, 'badTopic'],
      // One bad message drops its whole batch.
      [msgpack.encode({ msgs: [message, { ...message, payload: 42 }] }), false, 'badFields'],
      [msgpack.encode({ msgs: [{ ...message, qos: 3 }] }), false, 'badFields'],
      [msgpack.encode({ ack: 'x' }), false, 'badRouteUpdate'],
      [msgpack.encode({ seq: 1, add: ['tc/a/#'] }), true, 'badRouteUpdate'],
      [msgpack.encode({ node: 'n', seq: 1.5 }), true, 'badRouteUpdate'],
      [msgpack.encode({ node: 'n', seq: 1, add: 'tc/a/#' }), true, 'badRouteUpdate'],
      [msgpack.encode({ node: 'n', seq: 1, add: [42] }), true, 'badRouteUpdate'],
      [msgpack.encode({ node: 'n', seq: 1, add: ['$SYS/#'] }), true, 'badRouteUpdate'],
      [msgpack.encode({ node: 'n'.repeat(300), seq: 1 }), true, 'badRouteUpdate'],
      [msgpack.encode({ node: 'n', seq: 1, down: 'yes' }), true, 'badRouteUpdate'],
    ];
    for (const [bytes, isRoutes, reason] of cases) {
      assert.deepEqual(checkRoutedMessage(bytes, isRoutes), { kind: 'dropped', reason }, `${bytes.toString('hex').slice(0, 40)} → ${reason}`);
    }
  });
});
