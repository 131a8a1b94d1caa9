import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import type { Redis } from 'ioredis';
import type { Principal, TokenVerifier } from '../../src/auth/index.ts';
import { createRedisBrokerBackplane } from '../../src/cluster/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startMqttBroker, type RunningMqttBroker } from '../../src/mqtt/index.ts';
import { DomainError, type TenantId } from '../../src/shared/index.ts';
import { closesWithin, connectClient, Resources, subackCodes, withTimeout } from '../support/broker-helpers.ts';
import { registryFixture } from '../support/registry-fixture.ts';
import { deleteKeysUnder, redisAdmin, TEST_REDIS_URL, uniqueRedisPrefix, waitUntil } from '../support/redis-helpers.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/test-pki.ts';

// In a cluster aedes answers a CONNECT in several Redis round trips after `authenticate` (fetch
// the session's subscriptions, restore them, replace the will) before it registers the client.
// A client that drops its connection in that window is closed before it is registered: aedes
// then registers it anyway (`registerClient` runs for a closed client) and never emits
// `clientDisconnect` for it. Whatever trustgate keeps per connection until that event — the
// session's expiry clock, the tenant's filter count, the session registry, the deadline timer —
// stayed for ever: a persistent session that never expires, a tenant whose filter cap fills with
// ghosts, a closed Client kept in memory per dropped connection.

const TENANT = 'dropped' as TenantId;
const TOKEN = 'token-of-the-dropped-tenant';
const tokens: TokenVerifier = {
  verify: async (token: string): Promise<Principal> => {
    if (token !== TOKEN) throw new DomainError('auth.tokenInvalid', 'not the test token');
    return { tenant: TENANT, scopes: ['mcmqtt.admin'], subject: 'test-application' };
  },
};
const logger = pino({ level: 'silent' });

interface DelWill { delWill(client: { id: string; conn?: { closed?: boolean; once(event: 'close', listener: () => void): void } }): Promise<unknown> }

let admin: Redis;
let brokerCa: TestCertificate;
let serverCertificate: TestCertificate;
const resources = new Resources();
const prefix = uniqueRedisPrefix('dropped');

before(async () => {
  admin = redisAdmin();
  await admin.connect();
  brokerCa = await createCa({ subject: 'CN=dropped-connect test broker CA' });
  serverCertificate = await issueCertificate(brokerCa, { subject: 'CN=localhost', extendedKeyUsage: 'serverAuth' });
});

after(async () => {
  await resources.closeAll();
  await deleteKeysUnder(admin, prefix);
  await admin.quit();
});

describe('a connection dropped while aedes answers its CONNECT (cluster)', () => {
  test('its persistent session still expires, and its restored filters do not stay counted against the tenant', { timeout: 30_000 }, async () => {
    const backplane = createRedisBrokerBackplane({ url: TEST_REDIS_URL, logger, prefix });
    resources.add(() => backplane.close());
    const metrics = new MetricsRegistry();
    const broker: RunningMqttBroker = await startMqttBroker({
      registry: registryFixture().registry, tokens, logger, metrics, host: '127.0.0.1', port: 0, backplane, nodeId: 'test',
      quotas: loadConfig({ TRUSTGATE_MQTT_SESSION_EXPIRY_SECONDS: '3', TRUSTGATE_MQTT_MAX_FILTERS_PER_TENANT: '1' }).mqtt,
      tls: { certificateChainPem: serverCertificate.certificatePem, privateKeyPem: serverCertificate.privateKeyPem },
    });
    resources.add(() => broker.close());
    const metric = async (name: string): Promise<number> => (await metrics.getSingleMetric(name)!.get()).values.reduce((sum, v) => sum + v.value, 0);
    const url = `mqtts://localhost:${broker.port}`;
    const options = { ca: brokerCa.certificatePem, reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4 as const, username: TENANT, password: TOKEN };
    const victimId = `${TENANT}_ghost-${randomBytes(4).toString('hex')}`;

    // A persistent session holding one filter: the tenant's whole filter cap while connected.
    const first = await connectClient(url, { ...options, clientId: victimId, clean: false }, 'first connection');
    assert.deepEqual(await subackCodes(first, { [`tc/${TENANT}/a/i/#`]: { qos: 1 } }), [1]);
    await first.endAsync();
    await waitUntil(async () => await metric('trustgate_mqtt_sessions') === 0, 5_000, 'the first connection is gone');

    // The next CONNECT of that client id is held where aedes replaces the will (after
    // authenticate, fetching and restoring the subscriptions) until the broker saw the drop.
    const persistence = backplane.persistence as unknown as DelWill;
    const delWill = persistence.delWill.bind(persistence);
    let reached!: () => void;
    const held = new Promise<void>((resolve) => { reached = resolve; });
    persistence.delWill = async (client) => {
      const conn = client.conn;
      if (client.id === victimId && conn) {
        reached();
        if (!conn.closed) await new Promise<void>((resolve) => conn.once('close', resolve));
      }
      return delWill(client);
    };
    // (The first connection's clock, started when it left 3 s before it could expire, stops here.)
    const expiredBefore = await metric('trustgate_mqtt_persistent_sessions_expired_total');
    const dropped = mqtt.connect(url, { ...options, clientId: victimId, clean: false });
    dropped.on('error', () => undefined);
    await withTimeout(held, 5_000, 'the CONNECT reaching the will step');
    dropped.end(true);

    await waitUntil(async () => await metric('trustgate_mqtt_persistent_sessions_expired_total') > expiredBefore, 10_000,
      'the session whose client dropped its connection expires');
    assert.equal(await metric('trustgate_mqtt_sessions'), 0, 'no session counted as connected');

    const other = resources.client(await connectClient(url, { ...options, clientId: `${TENANT}_other` }, 'another application'));
    assert.deepEqual(await subackCodes(other, { [`tc/${TENANT}/b/i/#`]: { qos: 1 } }), [1], 'the tenant\'s filter cap is free again');
  });

  // aedes' Client#close unregisters by client id: the dropped connection took the entry of the
  // connection that held the id, which then stayed connected unseen — no later connection with
  // that id (on this node, or announced by another node) took it over: two sessions, one id.
  test('it does not unhook the connection already holding that client id: a later connection still takes it over', { timeout: 30_000 }, async () => {
    const backplane = createRedisBrokerBackplane({ url: TEST_REDIS_URL, logger, prefix });
    resources.add(() => backplane.close());
    const broker: RunningMqttBroker = await startMqttBroker({
      registry: registryFixture().registry, tokens, logger, metrics: new MetricsRegistry(), host: '127.0.0.1', port: 0, backplane, nodeId: 'test',
      quotas: loadConfig({}).mqtt,
      tls: { certificateChainPem: serverCertificate.certificatePem, privateKeyPem: serverCertificate.privateKeyPem },
    });
    resources.add(() => broker.close());
    const url = `mqtts://localhost:${broker.port}`;
    const options = { ca: brokerCa.certificatePem, reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4 as const, username: TENANT, password: TOKEN };
    const clientId = `${TENANT}_held-${randomBytes(4).toString('hex')}`;

    const holder = resources.client(await connectClient(url, { ...options, clientId }, 'the connection holding the id'));

    const persistence = backplane.persistence as unknown as DelWill;
    const delWill = persistence.delWill.bind(persistence);
    let reached!: () => void;
    const held = new Promise<void>((resolve) => { reached = resolve; });
    // aedes announces each unregistration on `$SYS/<broker>/disconnect/clients`.
    const mq = backplane.mq as unknown as { on(topic: string, listener: (packet: { payload: Buffer }, done: () => void) => void, done?: () => void): void };
    let unregistered!: () => void;
    const dropUnregistered = new Promise<void>((resolve) => { unregistered = resolve; });
    await new Promise<void>((resolve) => mq.on('$SYS/+/disconnect/clients', (packet, done) => {
      if (packet.payload.toString() === clientId) unregistered();
      done();
    }, resolve));
    let passed!: () => void;
    const gatePassed = new Promise<void>((resolve) => { passed = resolve; });
    let gated = false;
    persistence.delWill = async (client) => {
      const conn = client.conn;
      if (client.id !== clientId || !conn || gated) return delWill(client);
      gated = true;
      reached();
      // The dropped client's close (which unregisters by client id) happens before aedes goes on.
      await dropUnregistered;
      try {
        return await delWill(client);
      } finally {
        passed();
      }
    };
    const dropped = mqtt.connect(url, { ...options, clientId });
    dropped.on('error', () => undefined);
    await withTimeout(held, 5_000, 'the CONNECT reaching the will step');
    dropped.end(true);
    await withTimeout(gatePassed, 5_000, 'the dropped CONNECT going on');
    assert.equal(holder.connected, true, 'the connection holding the id is still there');

    const closed = closesWithin(holder, 5_000);
    resources.client(await connectClient(url, { ...options, clientId }, 'a later connection with the same id'));
    assert.equal(await closed, true, 'the later connection took the session over (one session per client id)');
  });
});
