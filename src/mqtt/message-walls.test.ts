import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { AedesPublishPacket, Aedes, Client, PublishPacket } from 'aedes';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import { createAuthorizeForward, createAuthorizePublish } from './authorize-packets.ts';
import { admitWill } from './authorize-will.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import { createBrokerMetrics } from './broker-metrics.ts';
import { PUBLISHER_PROPERTY, stampPublisher } from './message-publisher.ts';
import { guardStoredMessages } from './message-walls.ts';
import { SessionRegistry } from './session-registry.ts';

// The hooks and walls of finding 2 (issue 10) fed hostile packets: a will without a client (what
// aedes hands over for a node that died), `$SYS` topics, other tenants' topics, stamps forged or
// missing. Each must be refused or dropped; the control beside it must pass.

const logger = pino({ level: 'silent' });
const acmeAgent: BrokerPrincipal = { kind: 'agent', tenant: 'acme' as TenantId, clientId: 'acme_pump-1', agentId: 'a1' as AgentId, caCertificateId: 'ca' as CaCertificateId, certificateSerialNumber: '1', sessionId: 's' };
const evilReader: BrokerPrincipal = { kind: 'application', tenant: 'evil' as TenantId, clientId: 'evil_app', mayPublish: false };
const evilAdmin: BrokerPrincipal = { kind: 'application', tenant: 'evil' as TenantId, clientId: 'evil_admin', mayPublish: true };
const acmeAdmin: BrokerPrincipal = { kind: 'application', tenant: 'acme' as TenantId, clientId: 'acme_app', mayPublish: true };

const fakeClient = (id: string) => ({ id, close() {} }) as unknown as Client;

const setUp = () => {
  const registry = new Registry();
  const sessions = new SessionRegistry();
  const metrics = createBrokerMetrics(registry);
  const dependencies = { sessions, logger, metrics };
  const authorizePublish = (client: Client | null, packet: object) => new Promise<Error | null | undefined>((resolve) =>
    createAuthorizePublish(dependencies)(client, packet as PublishPacket, resolve));
  const forward = createAuthorizeForward(dependencies);
  const attach = (principal: BrokerPrincipal) => {
    const client = fakeClient(principal.clientId);
    sessions.attach(client, principal, sessions.epoch);
    return client;
  };
  const refused = async (where: string) => (await metrics.messagesRefused.get()).values.find((v) => v.labels.where === where)?.value ?? 0;
  return { authorizePublish, forward, attach, refused, metrics };
};

const publish = (topic: string, extra: object = {}) => ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, retain: true, dup: false, ...extra });
const stamped = (topic: string, publisher: unknown, extra: object = {}) => publish(topic, { properties: { [PUBLISHER_PROPERTY]: publisher }, ...extra });

describe('a will is judged at CONNECT by its publisher\'s rules', () => {
  const clientWithWill = (topic: string, payload = Buffer.from('x')) => ({ id: 'c', _will: { topic, payload, qos: 1, retain: true } }) as unknown as Client & { _will: object };

  it('refuses another tenant\'s command topic, $SYS handover topics and a read-only token\'s any topic', () => {
    for (const [principal, topic] of [
      [evilReader, 'tc/acme/acme_pump-1/i/cmd'],
      [evilAdmin, 'tc/acme/acme_pump-1/i/cmd'],
      [evilAdmin, '$SYS/node-1/new/clients'],
      [acmeAgent, '$SYS/node-1/new/clients'],
      [acmeAgent, 'tc/acme/acme_pump-1/i/cmd'],
      [acmeAgent, 'tc/acme/acme_pump-2/o/data'],
      [acmeAdmin, 'tc/acme/acme_pump-1/o/data'],
      [acmeAdmin, 'tc/evil/evil_x/i/cmd'],
    ] as const) {
      assert.throws(() => admitWill(clientWithWill(topic), principal), { code: 'mqtt.willNotAllowed' }, `${principal.clientId} → ${topic}`);
    }
  });

  it('refuses a will on a filter or a malformed topic below the principal\'s own prefix (wildcards, NUL, empty level)', () => {
    for (const topic of ['tc/acme/acme_pump-1/o/#', 'tc/acme/acme_pump-1/o/+/x', 'tc/acme/acme_pump-1/o/\u0000', 'tc/acme/acme_pump-1/o/', 'tc/acme/+/o/x']) {
      assert.throws(() => admitWill(clientWithWill(topic), acmeAgent), { code: 'mqtt.willNotAllowed' }, JSON.stringify(topic));
    }
  });

  it('replaces a publisher a client forged into its will with the one that connected', () => {
    const client = clientWithWill('tc/acme/acme_pump-1/o/status');
    (client._will as { properties?: object }).properties = { [PUBLISHER_PROPERTY]: { kind: 'application', tenant: 'evil', clientId: 'evil_x', mayPublish: true } };
    admitWill(client, acmeAgent);
    assert.deepEqual((client._will as { properties: object }).properties, { [PUBLISHER_PROPERTY]: { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' } });
  });

  it('refuses a will payload over 128 KiB', () => {
    assert.throws(() => admitWill(clientWithWill('tc/acme/acme_pump-1/o/s', Buffer.alloc(128 * 1024 + 1)), acmeAgent), { code: 'mqtt.willNotAllowed' });
  });

  it('accepts the principal\'s own topics and stamps the will with its publisher (nothing more)', () => {
    const client = clientWithWill('tc/acme/acme_pump-1/o/status');
    admitWill(client, acmeAgent);
    assert.deepEqual((client._will as { properties: object }).properties, { [PUBLISHER_PROPERTY]: { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' } });
    admitWill(clientWithWill('tc/acme/acme_pump-1/i/cmd'), acmeAdmin);
    admitWill({ id: 'c', _will: null } as unknown as Client, evilReader);
  });
});

describe('authorizePublish never waves through a message without a client', () => {
  it('refuses a will of a dead node that carries no publisher (what older nodes stored)', async () => {
    const { authorizePublish, refused } = setUp();
    assert.ok(await authorizePublish(null, publish('tc/acme/acme_pump-1/i/cmd', { clientId: 'evil_app', brokerId: 'dead' })));
    assert.ok(await authorizePublish(null, publish('$SYS/node-1/new/clients', { clientId: 'evil_app', brokerId: 'dead' })));
    assert.equal(await refused('storedWill'), 2);
  });

  it('refuses a will of a dead node whose recorded publisher was not allowed the topic, or whose stamp is malformed', async () => {
    const { authorizePublish } = setUp();
    assert.ok(await authorizePublish(null, stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'evil', clientId: 'evil_app', mayPublish: true })));
    assert.ok(await authorizePublish(null, stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'acme', clientId: 'acme_app', mayPublish: false })));
    assert.ok(await authorizePublish(null, stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'acme', clientId: 'acme_app' })), 'mayPublish missing');
    assert.ok(await authorizePublish(null, stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'broker', tenant: 'acme', clientId: 'x' })));
    assert.ok(await authorizePublish(null, stamped('$SYS/node-1/new/clients', { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' })));
    assert.ok(await authorizePublish(null, stamped('tc/acme/acme_pump-1/i/cmd', 'acme')));
  });

  it('lets through a will of a dead node whose recorded publisher was allowed (control)', async () => {
    const { authorizePublish } = setUp();
    assert.equal(await authorizePublish(null, stamped('tc/acme/acme_pump-1/o/status', { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' })), null);
    assert.equal(await authorizePublish(null, stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'acme', clientId: 'acme_app', mayPublish: true })), null);
  });

  it('judges a live client\'s PUBLISH by its session and replaces any stamp the packet claims', async () => {
    const { authorizePublish, attach } = setUp();
    const evil = attach(evilAdmin);
    assert.ok(await authorizePublish(evil, stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'acme', clientId: 'acme_app', mayPublish: true })));
    assert.ok(await authorizePublish(evil, publish('$SYS/node-1/new/clients')));
    const packet = publish('tc/evil/evil_x/i/cmd', { properties: { [PUBLISHER_PROPERTY]: { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' } } });
    assert.equal(await authorizePublish(evil, packet), null);
    assert.deepEqual((packet as { properties?: Record<string, unknown> }).properties?.[PUBLISHER_PROPERTY], { kind: 'application', tenant: 'evil', clientId: 'evil_admin', mayPublish: true });
    assert.ok(await authorizePublish(fakeClient('nobody'), publish('tc/evil/evil_x/i/cmd')), 'a client without a session');
  });
});

describe('authorizeForward delivers only what an allowed publisher sent to a receiver allowed to get it', () => {
  it('drops queued or retained messages without a publisher, or with one not allowed the topic', async () => {
    const { forward, attach, refused } = setUp();
    const agent = attach(acmeAgent);
    const asPacket = (packet: object) => packet as unknown as AedesPublishPacket;
    assert.equal(forward(agent, asPacket(publish('tc/acme/acme_pump-1/i/cmd'))), null, 'no publisher (stored by an older node)');
    assert.equal(forward(agent, asPacket(stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'evil', clientId: 'evil_app', mayPublish: true }))), null);
    assert.equal(forward(agent, asPacket(stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'acme', clientId: 'acme_app', mayPublish: false }))), null);
    assert.equal(await refused('delivery'), 3);
    const allowed = asPacket(stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'acme', clientId: 'acme_app', mayPublish: true }));
    assert.equal(forward(agent, allowed), allowed);
    assert.equal(forward(agent, asPacket(stamped('tc/acme/acme_pump-2/i/cmd', { kind: 'application', tenant: 'acme', clientId: 'acme_app', mayPublish: true }))), null, 'the receiver\'s walls still apply');
  });
});

describe('the walls around the persistence and broker.publish', () => {
  const fakeBroker = (wills: object[], retained: object[]) => {
    const deleted: unknown[] = [];
    const published: { packet: { topic: string }; client: unknown }[] = [];
    const broker = {
      persistence: {
        streamWill: () => Readable.from(wills),
        delWill: async (client: unknown) => { deleted.push(client); },
        createRetainedStream: () => Readable.from(retained),
        createRetainedStreamCombi: () => Readable.from(retained),
      },
      publish(packet: { topic: string }, client: unknown, done?: (error?: Error) => void) {
        published.push({ packet, client });
        done?.();
      },
    };
    return { broker, deleted, published };
  };

  it('streamWill hands out only wills whose recorded publisher was allowed, and deletes the others', async () => {
    const { metrics, refused } = setUp();
    const good = stamped('tc/acme/acme_pump-1/o/status', { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' }, { clientId: 'acme_pump-1', brokerId: 'dead' });
    const wills = [
      publish('tc/acme/acme_pump-1/i/cmd', { clientId: 'evil_app', brokerId: 'dead' }),
      stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'evil', clientId: 'evil_app', mayPublish: true }, { clientId: 'evil_app', brokerId: 'dead' }),
      stamped('$SYS/node-1/new/clients', { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' }, { clientId: 'acme_pump-1', brokerId: 'dead' }),
      // A stamp copied onto another client id's will.
      stamped('tc/acme/acme_pump-1/o/status', { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' }, { clientId: 'acme_pump-2', brokerId: 'dead' }),
      good,
    ];
    const { broker, deleted } = fakeBroker(wills, []);
    guardStoredMessages(broker as unknown as Aedes, { logger, metrics });
    const handedOut: object[] = [];
    for await (const will of broker.persistence.streamWill()) handedOut.push(will);
    assert.deepEqual(handedOut, [good]);
    assert.deepEqual(deleted, [
      { id: 'evil_app', brokerId: 'dead' }, { id: 'evil_app', brokerId: 'dead' }, { id: 'acme_pump-1', brokerId: 'dead' }, { id: 'acme_pump-2', brokerId: 'dead' },
    ]);
    assert.equal(await refused('storedWill'), 4);
  });

  it('retained messages without an allowed publisher are skipped as they are read; the others are recognised at delivery', async () => {
    const { metrics, forward, attach, refused } = setUp();
    const good = stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'acme', clientId: 'acme_app', mayPublish: true });
    const { broker } = fakeBroker([], [
      publish('tc/acme/acme_pump-1/i/cmd', { payload: Buffer.from('legacy') }),
      stamped('tc/acme/acme_pump-1/i/cmd', { kind: 'application', tenant: 'evil', clientId: 'evil_app', mayPublish: true }),
      good,
    ]);
    guardStoredMessages(broker as unknown as Aedes, { logger, metrics });
    const read: { topic: string; payload: Buffer }[] = [];
    for await (const packet of broker.persistence.createRetainedStreamCombi()) read.push(packet);
    assert.deepEqual(read, [good]);
    assert.equal(await refused('retained'), 2);
    // aedes delivers a retained message rebuilt from topic, payload, qos and retain only.
    const agent = attach(acmeAgent);
    const rebuilt = { cmd: 'publish', topic: good.topic, payload: good.payload, qos: 1, retain: true, brokerId: null } as unknown as AedesPublishPacket;
    assert.equal(forward(agent, rebuilt), rebuilt);
    const lookalike = { ...rebuilt, payload: Buffer.from(good.payload) } as unknown as AedesPublishPacket;
    assert.equal(forward(agent, lookalike), null, 'an equal payload read elsewhere was not checked');
  });

  it('broker.publish refuses a client-originated message on a $ topic and lets the broker\'s own through', async () => {
    const { metrics, refused } = setUp();
    const { broker, published } = fakeBroker([], []);
    guardStoredMessages(broker as unknown as Aedes, { logger, metrics });
    const publishVia = (packet: object, client?: unknown) => new Promise<Error | undefined>((resolve) => {
      if (client === undefined) (broker.publish as (p: object, done: (e?: Error) => void) => void)(packet, resolve);
      else broker.publish(packet as { topic: string }, client, resolve);
    });
    assert.ok(await publishVia({ topic: '$SYS/node-1/new/clients', payload: Buffer.from('acme_pump-1') }, fakeClient('evil_app')), 'a will at disconnect');
    assert.ok(await publishVia({ topic: '$SYS/node-1/new/clients', payload: Buffer.from('acme_pump-1'), clientId: 'evil_app', brokerId: 'dead' }, null), 'a dead node\'s will');
    const sneaky = { topic: '$SYS/node-1/new/clients', payload: Buffer.from('acme_pump-1') };
    stampPublisher(sneaky, evilAdmin);
    assert.ok(await publishVia(sneaky, null), 'a stamped message');
    assert.equal(await refused('sysTopic'), 3);
    assert.equal(published.length, 0);
    // Controls: the broker's own takeover announcement, and a client's ordinary message.
    assert.equal(await publishVia({ topic: '$SYS/node-2/new/clients', payload: Buffer.from('acme_pump-1') }), undefined);
    assert.equal(await publishVia({ topic: 'tc/acme/acme_pump-1/o/x', payload: Buffer.alloc(0) }, fakeClient('acme_pump-1')), undefined);
    assert.equal(published.length, 2);
  });
});
