import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { after, afterEach, before, describe, test } from 'node:test';
import { pino, type Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { CaCertificateRecord, RegistryEvent, StoredRecord } from '../registry/index.ts';
import type { AgentCertificateId, AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import { RedisClusterBus, type RedisClusterBusOptions } from './redis-cluster-bus.ts';
import {
  clientNamesUnder, killClients, redisAdmin, RedisOutageProxy, TEST_REDIS_URL, uniqueRedisPrefix, waitUntil,
} from '../../test/support/redis-helpers.ts';
import { describeNeeding, unavailable } from '../../test/support/test-services.ts';

const redisMissing = unavailable('redis');

// Against the real Redis: two buses (two "nodes") per test under a channel prefix of their own.

const tenant = 'acme' as TenantId;
const idOf = (n: number) => n.toString(16).padStart(24, '0') as CaCertificateId;
const caEvent = (n: number): RegistryEvent => ({ type: 'caCertificateVerified', tenant, caCertificateId: idOf(n) });
const everyRegistryEvent: readonly RegistryEvent[] = [
  { type: 'caCertificateRegistered', tenant, caCertificateId: '0123456789abcdef01234567' as CaCertificateId },
  { type: 'caCertificateVerified', tenant, caCertificateId: '0123456789abcdef01234567' as CaCertificateId },
  { type: 'caCertificateDeleted', tenant, caCertificateId: '0123456789abcdef01234567' as CaCertificateId },
  { type: 'managedCaCreated', tenant, caCertificateId: '76543210fedcba9876543210' as CaCertificateId },
  { type: 'agentCertificateRevoked', tenant, agentCertificateId: 'fedcba9876543210fedcba98' as AgentCertificateId, caCertificateId: '76543210fedcba9876543210' as CaCertificateId, serialNumber: '7f3a09' },
  { type: 'agentDisabled', tenant, agentId: '00112233445566778899aabb' as AgentId, clientId: 'acme_sensor-1' },
  { type: 'agentDeleted', tenant, agentId: '00112233445566778899aabb' as AgentId, clientId: 'acme_sensor-1' },
];

/** A pino logger that keeps its records for assertions. */
const recordingLogger = (): { logger: Logger; records: Record<string, unknown>[] } => {
  const records: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => { records.push(JSON.parse(line) as Record<string, unknown>); } });
  return { logger, records };
};

interface Node {
  readonly bus: RedisClusterBus;
  readonly received: RegistryEvent[];
  readonly resyncs: number[];
  readonly records: Record<string, unknown>[];
  readonly listenerErrors: unknown[];
}

let admin: Redis;
const open: RedisClusterBus[] = [];
const proxies: RedisOutageProxy[] = [];

const node = (nodeId: string, channelPrefix: string, options: Partial<RedisClusterBusOptions> = {}): Node => {
  const { logger, records } = recordingLogger();
  const listenerErrors: unknown[] = [];
  const bus = new RedisClusterBus({
    url: TEST_REDIS_URL, nodeId, channelPrefix, logger, onListenerError: (error) => listenerErrors.push(error), startTimeoutMs: 5_000, ...options,
  });
  open.push(bus);
  const received: RegistryEvent[] = [];
  bus.subscribe((event) => { received.push(event); });
  const resyncs: number[] = [];
  bus.onResync(() => { resyncs.push(Date.now()); });
  return { bus, received, resyncs, records, listenerErrors };
};

const settle = (ms = 150) => new Promise((resolve) => setTimeout(resolve, ms));

/** The event a third node publishes as a positive control (see `controlReaches`). */
const CONTROL = caEvent(0xc0ffee);

/**
 * The positive control of "not delivered (again)": a third node publishes CONTROL on the channel
 * after everything else, and each node in `nodes` handles it. Redis passes a channel's messages to
 * a subscriber in the order it took them, and a node handles them one at a time, in order: once
 * CONTROL is in, every earlier message has been handled there.
 */
const controlReaches = async (channelPrefix: string, nodes: readonly Node[]): Promise<void> => {
  await admin.publish(`${channelPrefix}registry-events`, JSON.stringify({ v: 1, origin: 'node-control', event: CONTROL }));
  await waitUntil(() => nodes.every((n) => n.received.some((event) => JSON.stringify(event) === JSON.stringify(CONTROL))), 3_000, 'the control event arrived');
};

before(async () => {
  if (redisMissing) return;
  admin = redisAdmin();
  await admin.connect();
});

afterEach(async () => {
  for (const bus of open.splice(0)) await bus.close();
  for (const proxy of proxies.splice(0)) await proxy.close();
});

after(async () => {
  if (redisMissing) return;
  await admin.quit();
});

describeNeeding('redis')('RedisClusterBus', () => {
  test('publish delivers on this node only; an event relayed from the outbox is delivered once on every node, the relaying one included', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const a = node('node-a', prefix);
    const b = node('node-b', prefix);
    await Promise.all([a.bus.start(), b.bus.start()]);
    assert.ok(a.bus.isReady() && b.bus.isReady());

    await a.bus.publish(caEvent(1));
    // publish resolves once this node's listeners are done, as with LocalEventBus; the other
    // nodes get the event from the outbox (decision 0019), not from publish.
    assert.deepEqual(a.received, [caEvent(1)]);
    await controlReaches(prefix, [a, b]);
    assert.deepEqual(b.received, [CONTROL], 'publish sends nothing to the other nodes');

    await b.bus.relay(caEvent(2));
    await waitUntil(() => a.received.length === 3 && b.received.length === 2, 3_000, 'both nodes received the relayed event');
    // A positive control: node b hears node a's relay after its own message came back from Redis.
    await a.bus.relay(caEvent(3));
    await waitUntil(() => a.received.length === 4 && b.received.length === 3, 3_000, 'both nodes received the second relayed event');
    // Own messages come back from Redis too; they are not delivered a second time.
    assert.deepEqual(a.received, [caEvent(1), CONTROL, caEvent(2), caEvent(3)]);
    assert.deepEqual(b.received, [CONTROL, caEvent(2), caEvent(3)]);
    assert.deepEqual([a.resyncs, b.resyncs], [[], []], 'no resync at the first start');
  });

  test('the record a use case stored reaches this node\'s listeners only: the wire and the other nodes get the event\'s ids', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const a = node('node-a', prefix);
    const b = node('node-b', prefix);
    const storedOn = (bus: RedisClusterBus) => {
      const seen: (StoredRecord | undefined)[] = [];
      bus.subscribe((_event, stored) => { seen.push(stored); });
      return seen;
    };
    const onA = storedOn(a.bus);
    const onB = storedOn(b.bus);
    const wire = redisAdmin();
    const sent: string[] = [];
    wire.on('message', (_channel: string, text: string) => sent.push(text));
    try {
      await wire.connect();
      await wire.subscribe(`${prefix}registry-events`);
      await Promise.all([a.bus.start(), b.bus.start()]);
      const record = { id: idOf(1), tenant, certificatePem: '-----BEGIN CERTIFICATE-----', registrationCode: 'not-for-the-wire' } as unknown as CaCertificateRecord;
      const stored = { kind: 'caCertificate', record, certificate: { pem: record.certificatePem } } as unknown as StoredRecord;
      await a.bus.publish(caEvent(1), stored);
      assert.deepEqual(onA, [stored]);
      // The outbox's copy of the same event, as the relay sends it.
      await a.bus.relay(caEvent(1));
      await waitUntil(() => onB.length === 1 && sent.length === 1, 3_000, 'node b and the wire got the event');
      assert.deepEqual(onB, [undefined]);
      assert.deepEqual(b.received, [caEvent(1)]);
      assert.deepEqual(JSON.parse(sent[0]!).event, caEvent(1));
      assert.doesNotMatch(sent[0]!, /not-for-the-wire|CERTIFICATE/);
    } finally {
      wire.disconnect();
    }
  });

  test('every event type crosses unchanged and in order', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const a = node('node-a', prefix);
    const b = node('node-b', prefix);
    await Promise.all([a.bus.start(), b.bus.start()]);
    for (const event of everyRegistryEvent) await a.bus.relay(event);
    await waitUntil(() => b.received.length === everyRegistryEvent.length, 3_000, 'every event arrived');
    assert.deepEqual(b.received, everyRegistryEvent);
  });

  test('another node\'s events reach the listeners one at a time, in order, and a failing listener is reported', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const a = node('node-a', prefix);
    const b = node('node-b', prefix);
    const order: string[] = [];
    b.bus.subscribe(async (event) => {
      if (event.type !== 'caCertificateVerified') return;
      order.push(`start ${event.caCertificateId}`);
      await settle(20);
      order.push(`end ${event.caCertificateId}`);
      throw new Error('listener failed');
    });
    await Promise.all([a.bus.start(), b.bus.start()]);
    await Promise.all([a.bus.relay(caEvent(1)), a.bus.relay(caEvent(2))]);
    await waitUntil(() => order.length === 4, 3_000, 'both events handled');
    assert.deepEqual(order, [`start ${idOf(1)}`, `end ${idOf(1)}`, `start ${idOf(2)}`, `end ${idOf(2)}`]);
    assert.equal(b.listenerErrors.length, 2);
  });

  test('a listener that publishes while handling an event does not wait behind itself', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const a = node('node-a', prefix);
    const b = node('node-b', prefix);
    a.bus.subscribe(async (event) => {
      if (event.type === 'caCertificateVerified' && event.caCertificateId === idOf(1)) await a.bus.publish(caEvent(99));
    });
    await Promise.all([a.bus.start(), b.bus.start()]);
    await b.bus.relay(caEvent(1));
    await waitUntil(() => a.received.length === 2, 3_000, 'node a published from its listener');
    assert.deepEqual(a.received, [caEvent(1), caEvent(99)]);
  });

  test('events that arrive during a resync are delivered after it', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const a = node('node-a', prefix);
    const b = node('node-b', prefix);
    let resyncStartedAt = 0;
    let resyncEndedAt = 0;
    a.bus.onResync(async () => {
      resyncStartedAt = Date.now();
      await settle(300);
      resyncEndedAt = Date.now();
    });
    let receivedAt = 0;
    a.bus.subscribe(() => { receivedAt = Date.now(); });
    await Promise.all([a.bus.start(), b.bus.start()]);
    await killClients(admin, (name) => name === `${prefix}bus-sub:node-a`);
    await waitUntil(() => resyncStartedAt > 0, 5_000, 'the resync started');
    await b.bus.relay(caEvent(11));
    await waitUntil(() => receivedAt > 0, 3_000, 'node a received the event');
    assert.ok(resyncEndedAt > 0 && receivedAt >= resyncEndedAt, 'delivered after the resync finished');
  });

  test('malformed and hostile messages on the channel are logged and dropped', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const b = node('node-b', prefix);
    await b.bus.start();
    const channel = `${prefix}registry-events`;
    const valid = (event: unknown, origin = 'node-x') => JSON.stringify({ v: 1, origin, event });
    const hostile = [
      'not json at all',
      '{"v":1,"origin":"node-x","event":',
      'null',
      '[]',
      JSON.stringify({ v: 2, origin: 'node-x', event: caEvent(1) }),
      valid({ type: 'caCertificateVerified', tenant: 5, caCertificateId: 'x' }),
      valid({ type: 'caCertificateVerified', tenant, caCertificateId: ['x'] }),
      valid({ type: 'tenantDeleted', tenant }),
      valid({ type: '__proto__', tenant }),
      valid({ type: 'agentDeleted', tenant, agentId: 'a'.repeat(100_000), clientId: 'c' }),
      'x'.repeat(1_000_000),
    ];
    for (const text of hostile) await admin.publish(channel, text);
    // Its own node id as origin: ignored, as its own messages are.
    await admin.publish(channel, valid(caEvent(3), 'node-b'));
    await admin.publish(channel, valid({ ...caEvent(4), extra: 'not passed on' }));
    await waitUntil(() => b.received.length === 1, 3_000, 'the valid message arrived');
    await controlReaches(prefix, [b]);
    assert.deepEqual(b.received, [caEvent(4), CONTROL]);
    const dropped = b.records.filter((record) => record.msg === 'dropped a malformed cluster bus message');
    assert.equal(dropped.length, hostile.length);
    assert.ok(b.bus.isReady(), 'still subscribed');
  });

  test('the subscription lost and re-established triggers a resync, the first start does not', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const a = node('node-a', prefix);
    const b = node('node-b', prefix);
    await Promise.all([a.bus.start(), b.bus.start()]);
    // Each node holds two named connections: an operator finds them in CLIENT LIST.
    assert.deepEqual((await clientNamesUnder(admin, prefix)).sort(),
      [`${prefix}bus-pub:node-a`, `${prefix}bus-pub:node-b`, `${prefix}bus-sub:node-a`, `${prefix}bus-sub:node-b`]);
    assert.deepEqual(a.resyncs, []);

    assert.equal(await killClients(admin, (name) => name === `${prefix}bus-sub:node-a`), 1);
    await waitUntil(() => a.resyncs.length === 1, 5_000, 'node a resynced');
    assert.ok(a.bus.isReady());
    assert.deepEqual(b.resyncs, [], 'only the node that lost its subscription resyncs');
    // Subscribed again: events flow both ways.
    await b.bus.relay(caEvent(5));
    await waitUntil(() => a.received.length === 1, 3_000, 'node a receives again');
    await a.bus.relay(caEvent(6));
    await waitUntil(() => b.received.length === 2, 3_000, 'node b receives from node a');

    // Killing the publisher loses no subscription: no resync. Until it reconnected, relay refuses
    // (the outbox keeps the event and tries again).
    assert.equal(await killClients(admin, (name) => name === `${prefix}bus-pub:node-a`), 1);
    await waitUntil(() => a.bus.relay(caEvent(7)).then(() => true, () => false), 5_000, 'node a relays again after its publisher reconnected');
    await waitUntil(() => b.received.length === 3, 5_000, 'node b received it');
    assert.equal(a.resyncs.length, 1);
  });

  test('while Redis is unreachable an event is delivered locally at once, and relay refuses at once (the outbox keeps it) until Redis returns', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const proxy = new RedisOutageProxy();
    proxies.push(proxy);
    await proxy.start();
    const a = node('node-a', prefix, { url: proxy.url });
    const b = node('node-b', prefix);
    await Promise.all([a.bus.start(), b.bus.start()]);

    await proxy.cut();
    await waitUntil(() => !a.bus.isReady(), 3_000, 'node a noticed the outage');
    const startedAt = Date.now();
    await a.bus.publish(caEvent(8));
    assert.ok(Date.now() - startedAt < 500, 'publish does not wait for Redis');
    assert.deepEqual(a.received, [caEvent(8)]);
    await assert.rejects(a.bus.relay(caEvent(8)), /Redis unreachable/);
    assert.ok(Date.now() - startedAt < 500, 'relay refuses at once');
    await controlReaches(prefix, [b]);
    assert.deepEqual(b.received, [CONTROL], 'nothing of node a while Redis is unreachable for it');

    await proxy.restore();
    await waitUntil(() => a.bus.relay(caEvent(8)).then(() => true, () => false), 6_000, 'node a relays once Redis is back');
    await waitUntil(() => b.received.length === 2, 6_000, 'node b received the event');
    assert.deepEqual(b.received, [CONTROL, caEvent(8)]);
    await waitUntil(() => a.resyncs.length === 1, 6_000, 'node a resynced after its subscription came back');
    assert.ok(a.bus.isReady());
  });

  test('a subscription whose packets are silently dropped is noticed within the silence limit: not ready, reconnected once the network heals, and resynced after what it missed', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const proxy = new RedisOutageProxy();
    proxies.push(proxy);
    await proxy.start();
    const pingIntervalMs = 200;
    const silenceLimitMs = 800;
    const a = node('node-a', prefix, { url: proxy.url, pingIntervalMs, silenceLimitMs });
    const b = node('node-b', prefix, { pingIntervalMs, silenceLimitMs });
    await Promise.all([a.bus.start(), b.bus.start()]);
    // Pings go round while all is well: no false alarm over several silence limits.
    await controlReaches(prefix, [a, b]);
    const quietSince = Date.now();
    await waitUntil(() => Date.now() - quietSince > 3 * silenceLimitMs, 5_000, 'three silence limits passed');
    assert.equal(a.bus.readiness(), 'ok');
    assert.deepEqual(a.resyncs, [], 'no reconnect while Redis answers');

    proxy.blackhole();
    const blackholedAt = Date.now();
    assert.equal(a.bus.readiness(), 'ok', 'nothing is closed: the connection still looks fine at first');
    await waitUntil(() => !a.bus.isReady(), 5_000, 'node a noticed its silent subscription');
    const noticedAfterMs = Date.now() - blackholedAt;
    // The bound: the silence limit, plus the check's granularity, plus scheduling slack.
    assert.ok(noticedAfterMs <= silenceLimitMs + pingIntervalMs + 500, `noticed ${noticedAfterMs} ms after the packets stopped`);
    assert.equal(a.bus.readiness(), 'Redis subscription silent: trust changes from other nodes may be missed');
    assert.ok(a.records.some((record) => record.msg === 'cluster bus subscription silent: reconnecting to Redis; trust changes from other nodes may be missed until the resync'));
    // Another node changes trust while node a hears nothing.
    await b.bus.relay(caEvent(12));
    const publishedAt = Date.now();
    assert.equal(await a.bus.catchUp(200), false, 'a silent subscription cannot promise to be caught up');
    // Held over several more silence limits: still not ready, no resync yet (nothing came back).
    await waitUntil(() => Date.now() - publishedAt > 3 * silenceLimitMs, 5_000, 'three more silence limits passed');
    assert.notEqual(a.bus.readiness(), 'ok');
    assert.deepEqual(a.resyncs, []);

    proxy.restoreFlow();
    await waitUntil(() => a.resyncs.length > 0, 10_000, 'node a resynced after the network healed');
    assert.ok(a.resyncs[0]! >= publishedAt, 'the resync ran after the event it may have missed');
    await waitUntil(() => a.bus.readiness() === 'ok', 5_000, 'node a ready again');
    assert.ok(a.bus.isReady());
    assert.ok(await a.bus.catchUp(3_000), 'caught up again');
    // Events flow again both ways.
    await b.bus.relay(caEvent(13));
    await waitUntil(() => a.received.some((event) => JSON.stringify(event) === JSON.stringify(caEvent(13))), 3_000, 'node a receives again');
    await a.bus.relay(caEvent(14));
    await waitUntil(() => b.received.some((event) => JSON.stringify(event) === JSON.stringify(caEvent(14))), 3_000, 'node b receives from node a again');
    assert.deepEqual(b.resyncs, [], 'the node that heard all along did not resync');
  });

  test('the ping options are checked', () => {
    assert.throws(() => node('node-a', uniqueRedisPrefix('bus'), { pingIntervalMs: 1_000, silenceLimitMs: 1_000 }), /ping interval must be positive and shorter than its silence limit/);
  });

  test('start() rejects with a clear error, without the password, when Redis is unreachable', async () => {
    const proxy = new RedisOutageProxy();
    await proxy.start();
    const url = proxy.url.replace('redis://', 'redis://:s3cret@');
    await proxy.close(); // nothing listens on that port any more
    const a = node('node-a', uniqueRedisPrefix('bus'), { url, startTimeoutMs: 600 });
    const startedAt = Date.now();
    await assert.rejects(a.bus.start(), (error: Error) => {
      assert.match(error.message, /Could not reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? within 600 ms \(.*ECONNREFUSED.*\)/);
      assert.doesNotMatch(error.message, /s3cret/);
      return true;
    });
    assert.ok(Date.now() - startedAt < 2_000);
    assert.equal(a.bus.isReady(), false);
    await a.bus.close();
  });

  test('close() is idempotent, and its connections are gone from Redis', async () => {
    const prefix = uniqueRedisPrefix('bus');
    const a = node('node-a', prefix);
    const b = node('node-b', prefix);
    await Promise.all([a.bus.start(), b.bus.start()]);
    await a.bus.relay(caEvent(9));
    await waitUntil(() => b.received.length === 1 && a.received.length === 1, 3_000, 'both nodes received');
    await Promise.all([a.bus.close(), a.bus.close(), b.bus.close()]);
    await b.bus.close();
    assert.equal(a.bus.isReady(), false);
    // A publish after close still reaches this node's listeners and does not throw; relay refuses.
    await a.bus.publish(caEvent(10));
    assert.deepEqual(a.received, [caEvent(9), caEvent(10)]);
    await assert.rejects(a.bus.relay(caEvent(10)), /closed/);
    assert.deepEqual(await clientNamesUnder(admin, prefix), []);
  });

  test('a thread that started, used and closed two buses ends by itself: close() leaves no socket or timer behind', async () => {
    // What a leftover handle costs is a process that does not exit after shutdown, so that is what
    // is checked: a worker thread ends when nothing is left in its event loop. Its buses wait
    // 10 minutes for Redis, so a start timer left running would hold it far past the deadline
    // below, as would a connection that keeps reconnecting.
    const prefix = uniqueRedisPrefix('bus');
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      (async () => {
        const { RedisClusterBus } = await import(workerData.busModule);
        const { pino } = await import(workerData.pinoModule);
        const received = [];
        const bus = (nodeId) => new RedisClusterBus({
          url: workerData.url, nodeId, channelPrefix: workerData.prefix, logger: pino({ level: 'silent' }),
          onListenerError: () => undefined, startTimeoutMs: 600_000,
        });
        const [a, b] = [bus('node-a'), bus('node-b')];
        b.subscribe((event) => { received.push(event); });
        await Promise.all([a.start(), b.start()]);
        await a.relay(workerData.event);
        while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
        await Promise.all([a.close(), a.close(), b.close()]);
        parentPort.postMessage({ closed: true, received });
        parentPort.close();
      })().catch((error) => { parentPort.postMessage({ error: String(error?.stack ?? error) }); });
    `, {
      eval: true,
      workerData: {
        busModule: import.meta.resolve('./redis-cluster-bus.ts'), pinoModule: import.meta.resolve('pino'),
        url: TEST_REDIS_URL, prefix, event: caEvent(11),
      },
    });
    const messages: Record<string, unknown>[] = [];
    worker.on('message', (message: Record<string, unknown>) => messages.push(message));
    const exited = once(worker, 'exit');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'still running'>((resolve) => { timer = setTimeout(() => resolve('still running'), 60_000); });
    try {
      const outcome = await Promise.race([exited, deadline]);
      assert.notEqual(outcome, 'still running', `the thread did not end within 60 s of starting; it said ${JSON.stringify(messages)}`);
    } finally {
      clearTimeout(timer);
      await worker.terminate();
    }
    assert.deepEqual(messages, [{ closed: true, received: [caEvent(11)] }], 'the thread used the buses and closed them, and nothing failed');
    assert.deepEqual(await clientNamesUnder(admin, prefix), []);
  });
});
