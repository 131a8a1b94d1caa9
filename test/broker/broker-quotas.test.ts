import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { closesWithin, connectApplication, controlArrives, MessageLog, refusalCodeOf, Resources, subackCodes } from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { waitUntil } from '../support/wait-until.ts';

// The broker's caps one by one (docs/decisions/0015-broker-quotas.md), each named after the
// abuse it stops, with real MQTT.js clients of tenant applications. Small caps keep the tests
// short; docs/config.md has the defaults. Each test uses its own tenant: caps count per tenant.

const CAPS = {
  TRUSTGATE_MQTT_MAX_FILTERS_PER_SUBSCRIBE: '4',
  TRUSTGATE_MQTT_MAX_FILTERS_PER_CLIENT: '8',
  TRUSTGATE_MQTT_MAX_FILTERS_PER_TENANT: '12',
  TRUSTGATE_MQTT_MAX_QUEUED_PER_CLIENT: '5',
  TRUSTGATE_MQTT_MAX_QUEUED_PER_TENANT: '8',
  TRUSTGATE_MQTT_MAX_RETAINED_PER_CLIENT: '3',
  TRUSTGATE_MQTT_MAX_RETAINED_PER_TENANT: '5',
  TRUSTGATE_MQTT_MAX_OUTGOING_BYTES_PER_TENANT: String(2 * 1024 * 1024),
  TRUSTGATE_MQTT_MAX_PERSISTENT_SESSIONS_PER_TENANT: '2',
};
const NOT_AUTHORIZED = 5;

const metricValue = async (server: TestServer, name: string): Promise<number> => {
  const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
};


describe('broker caps', () => {
  const resources = new Resources();
  let server: TestServer;

  before(async () => {
    server = await startTestServer(CAPS);
    resources.add(() => server.close());
  });
  after(() => resources.closeAll());

  test('a QoS 2 PUBLISH closes the connection and is neither delivered nor kept for a PUBREL', async () => {
    const tenant = newTenant('q2');
    const reader = resources.client(await connectApplication(server, tenant));
    const log = new MessageLog(reader);
    await subackCodes(reader, { [`tc/${tenant}/a/i/#`]: { qos: 1 } });
    const abuser = resources.client(await connectApplication(server, tenant, { clientId: `${tenant}_qos2`, clean: false }));
    abuser.publish(`tc/${tenant}/a/i/two`, 'qos 2', { qos: 2 });
    assert.equal(await closesWithin(abuser, 3_000), true, 'the QoS 2 publisher is disconnected');
    // Positive control: a later message arrives, the QoS 2 one never did.
    const publisher = resources.client(await connectApplication(server, tenant));
    await controlArrives(publisher, `tc/${tenant}/a/i/one`, [log]);
    assert.deepEqual(log.under(`tc/${tenant}/a/i/two`), []);
    assert.equal(await metricValue(server, 'trustgate_mqtt_cap_hits_total{cap="qos2Publish"}'), 1);
  });

  test('a SUBSCRIBE with more filters than the cap closes the connection; a client past its filter cap gets SUBACK 0x80', async () => {
    const tenant = newTenant('filters');
    const greedy = resources.client(await connectApplication(server, tenant, { scopes: ['mcmqtt.read'] }));
    const five = Object.fromEntries([1, 2, 3, 4, 5].map((n) => [`tc/${tenant}/+/o/${n}/#`, { qos: 0 as const }]));
    greedy.subscribe(five);
    assert.equal(await closesWithin(greedy, 3_000), true, 'five filters in one SUBSCRIBE close the connection');

    const reader = resources.client(await connectApplication(server, tenant, { scopes: ['mcmqtt.read'] }));
    const filters = (from: number) => Object.fromEntries([0, 1, 2, 3].map((n) => [`tc/${tenant}/+/o/${from + n}/#`, { qos: 0 as const }]));
    assert.deepEqual(await subackCodes(reader, filters(0)), [0, 0, 0, 0]);
    assert.deepEqual(await subackCodes(reader, filters(4)), [0, 0, 0, 0]);
    assert.deepEqual(await subackCodes(reader, filters(8)), [128, 128, 128, 128], 'past 8 filters');
    // A filter it already holds is not a new one; an unsubscription frees a place.
    assert.deepEqual(await subackCodes(reader, filters(0)), [0, 0, 0, 0]);
    await reader.unsubscribeAsync(`tc/${tenant}/+/o/0/#`);
    assert.deepEqual(await subackCodes(reader, { [`tc/${tenant}/+/o/99/#`]: { qos: 0 } }), [0]);
    assert.equal(reader.connected, true);
  });

  test('many connections of one read-only tenant cannot hold more filters than the tenant cap; a closed connection frees its filters', async () => {
    const tenant = newTenant('fan');
    const filters = (from: number, count: number) => Object.fromEntries(Array.from({ length: count }, (_, n) => [`tc/${tenant}/+/o/${from + n}/#`, { qos: 0 as const }]));
    const first = await connectApplication(server, tenant, { scopes: ['mcmqtt.read'] });
    assert.deepEqual(await subackCodes(first, filters(0, 4)), [0, 0, 0, 0]);
    assert.deepEqual(await subackCodes(first, filters(4, 4)), [0, 0, 0, 0]);
    const second = resources.client(await connectApplication(server, tenant, { scopes: ['mcmqtt.read'] }));
    assert.deepEqual(await subackCodes(second, filters(100, 4)), [0, 0, 0, 0]);
    assert.deepEqual(await subackCodes(second, filters(104, 4)), [128, 128, 128, 128], 'past 12 filters for the tenant');
    first.end(true);
    await closesWithin(first, 3_000);
    // The broker frees the closed connection's places once it has seen it go.
    await waitUntil(async () => (await subackCodes(second, filters(104, 1)))[0] !== 128, 5_000, 'a place freed by the closed connection');
    assert.ok(await metricValue(server, 'trustgate_mqtt_cap_hits_total{cap="filtersPerTenant"}') >= 4);
  });

  test('messages queued for a persistent session that stays away stop at the per-client cap', async () => {
    const tenant = newTenant('queue');
    const sessionId = `${tenant}_away`;
    const away = await connectApplication(server, tenant, { clientId: sessionId, clean: false });
    await subackCodes(away, { [`tc/${tenant}/a/i/#`]: { qos: 1 } });
    away.end(true);
    await closesWithin(away, 3_000);

    const publisher = resources.client(await connectApplication(server, tenant));
    for (let n = 1; n <= 8; n += 1) await publisher.publishAsync(`tc/${tenant}/a/i/m`, String(n), { qos: 1 });

    let log!: MessageLog;
    const back = resources.client(await connectApplication(server, tenant, { clientId: sessionId, clean: false }, (client) => { log = new MessageLog(client); }));
    // The queue arrives after the CONNACK; then a marker shows nothing more was on its way.
    await waitUntil(() => log.on(`tc/${tenant}/a/i/m`).length >= 5, 5_000, 'the queued messages');
    await controlArrives(publisher, `tc/${tenant}/a/i/marker`, [log]);
    assert.deepEqual(log.on(`tc/${tenant}/a/i/m`).map((m) => m.payload.toString()), ['1', '2', '3', '4', '5']);
    assert.ok(back.connected);
    assert.ok(await metricValue(server, 'trustgate_mqtt_cap_hits_total{cap="queuedPerClient"}') >= 3);
  });

  test('messages queued for all of a tenant\'s persistent sessions stop at the per-tenant cap', async () => {
    const tenant = newTenant('tqueue');
    for (const name of ['one', 'two']) {
      const away = await connectApplication(server, tenant, { clientId: `${tenant}_${name}`, clean: false });
      await subackCodes(away, { [`tc/${tenant}/a/i/#`]: { qos: 1 } });
      away.end(true);
      await closesWithin(away, 3_000);
    }
    const publisher = resources.client(await connectApplication(server, tenant));
    for (let n = 1; n <= 6; n += 1) await publisher.publishAsync(`tc/${tenant}/a/i/m`, String(n), { qos: 1 });

    const logs: MessageLog[] = [];
    for (const name of ['one', 'two']) {
      resources.client(await connectApplication(server, tenant, { clientId: `${tenant}_${name}`, clean: false }, (client) => { logs.push(new MessageLog(client)); }));
    }
    const received = () => logs.reduce((sum, log) => sum + log.on(`tc/${tenant}/a/i/m`).length, 0);
    await waitUntil(() => received() >= 8, 5_000, 'the queued messages');
    await controlArrives(publisher, `tc/${tenant}/a/i/marker`, logs);
    assert.equal(received(), 8, 'the two sessions together got as many as the tenant cap');
  });

  test('subscribers of one tenant that stop reading are disconnected once together they leave more unread bytes than the tenant cap', async () => {
    const tenant = newTenant('unread');
    const readers = await Promise.all([1, 2].map(async () => {
      const reader = resources.client(await connectApplication(server, tenant));
      await subackCodes(reader, { [`tc/${tenant}/a/i/#`]: { qos: 0 } });
      reader.stream.pause(); // it reads nothing from here on
      return reader;
    }));
    const publisher = resources.client(await connectApplication(server, tenant));
    const payload = Buffer.alloc(64 * 1024, 0x63);
    const hits = () => metricValue(server, 'trustgate_mqtt_cap_hits_total{cap="outgoingBytesPerTenant"}');
    for (let sent = 0; sent < 640 && (sent % 16 !== 0 || await hits() === 0); sent += 1) {
      await publisher.publishAsync(`tc/${tenant}/a/i/flood`, payload, { qos: 0 });
    }
    assert.ok(await hits() >= 1, 'the tenant cap disconnected one of them');
    assert.equal(await metricValue(server, 'trustgate_mqtt_cap_hits_total{cap="outgoingBytes"}'), 0, 'each stayed under its own 8 MiB');
    for (const reader of readers) reader.stream.resume();
  });

  test('retained messages stop at the per-client and per-tenant caps; replacing or clearing one is always allowed', async () => {
    const tenant = newTenant('retain');
    const first = resources.client(await connectApplication(server, tenant));
    const second = resources.client(await connectApplication(server, tenant));
    for (let n = 1; n <= 5; n += 1) await first.publishAsync(`tc/${tenant}/a/i/first/${n}`, `f${n}`, { qos: 1, retain: true });
    for (let n = 1; n <= 5; n += 1) await second.publishAsync(`tc/${tenant}/a/i/second/${n}`, `s${n}`, { qos: 1, retain: true });
    // At the caps: the first client holds 3 (its cap), the second 2 (the tenant's 5). A
    // replacement and a clearing still work, and the clearing frees a place.
    await first.publishAsync(`tc/${tenant}/a/i/first/1`, 'f1-new', { qos: 1, retain: true });
    await first.publishAsync(`tc/${tenant}/a/i/first/2`, '', { qos: 1, retain: true });
    await second.publishAsync(`tc/${tenant}/a/i/second/9`, 's9', { qos: 1, retain: true });

    const reader = resources.client(await connectApplication(server, tenant));
    const log = new MessageLog(reader);
    await subackCodes(reader, { [`tc/${tenant}/a/i/#`]: { qos: 1 } });
    await waitUntil(() => log.messages.length >= 5, 5_000, 'the retained messages');
    await controlArrives(first, `tc/${tenant}/a/i/marker`, [log]);
    const retained = log.messages.filter((m) => m.topic !== `tc/${tenant}/a/i/marker`).map((m) => `${m.topic.split('/').slice(-2).join('/')}=${m.payload.toString()}`).sort();
    assert.deepEqual(retained, ['first/1=f1-new', 'first/3=f3', 'second/1=s1', 'second/2=s2', 'second/9=s9']);
    assert.ok(await metricValue(server, 'trustgate_mqtt_cap_hits_total{cap="retainedPerClient"}') >= 2);
    assert.ok(await metricValue(server, 'trustgate_mqtt_cap_hits_total{cap="retainedPerTenant"}') >= 3);
  });

  test('an application token minting persistent client ids past the tenant cap is refused; resuming one, clean sessions and a cleaned session\'s place still work', async () => {
    const tenant = newTenant('mint');
    const hitsBefore = await metricValue(server, 'trustgate_mqtt_cap_hits_total{cap="persistentSessionsPerTenant"}');
    // One session parked (away, with a filter), one connected: the tenant's two places.
    const parked = await connectApplication(server, tenant, { clientId: `${tenant}_p1`, clean: false });
    await subackCodes(parked, { [`tc/${tenant}/a/i/#`]: { qos: 1 } });
    parked.end(true);
    await closesWithin(parked, 3_000);
    resources.client(await connectApplication(server, tenant, { clientId: `${tenant}_p2`, clean: false }));

    assert.equal(await refusalCodeOf(connectApplication(server, tenant, { clientId: `${tenant}_p3`, clean: false }), resources), NOT_AUTHORIZED,
      'a third persistent client id is refused');
    assert.equal(await metricValue(server, 'trustgate_mqtt_cap_hits_total{cap="persistentSessionsPerTenant"}'), hitsBefore + 1);
    resources.client(await connectApplication(server, tenant, { clientId: `${tenant}_c`, clean: true }));
    let sessionPresent: boolean | undefined;
    resources.client(await connectApplication(server, tenant, { clientId: `${tenant}_p1`, clean: false }, (client) => {
      client.once('connect', (connack) => { sessionPresent = connack.sessionPresent; });
    }));
    assert.equal(sessionPresent, true, 'the parked session is resumed');

    // A clean CONNECT with a persistent client id deletes that session (MQTT-3.1.2-6): its place is free.
    resources.client(await connectApplication(server, tenant, { clientId: `${tenant}_p2`, clean: true }));
    resources.client(await connectApplication(server, tenant, { clientId: `${tenant}_p3`, clean: false }));
    assert.equal(await refusalCodeOf(connectApplication(server, tenant, { clientId: `${tenant}_p4`, clean: false }), resources), NOT_AUTHORIZED);
    // Another tenant has places of its own.
    const other = newTenant('mint-other');
    resources.client(await connectApplication(server, other, { clientId: `${other}_p1`, clean: false }));
  });
});

describe('persistent session expiry', () => {
  const resources = new Resources();
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ TRUSTGATE_MQTT_SESSION_EXPIRY_SECONDS: '1', TRUSTGATE_MQTT_MAX_PERSISTENT_SESSIONS_PER_TENANT: '2' });
    resources.add(() => server.close());
  });
  after(() => resources.closeAll());

  test('the session of a client that stays away longer than the expiry is deleted with its queued messages', async () => {
    const tenant = newTenant('expiry');
    const sessionId = `${tenant}_gone`;
    const gone = await connectApplication(server, tenant, { clientId: sessionId, clean: false });
    await subackCodes(gone, { [`tc/${tenant}/a/i/#`]: { qos: 1 } });
    gone.end(true);
    await closesWithin(gone, 3_000);
    const publisher = resources.client(await connectApplication(server, tenant));
    await publisher.publishAsync(`tc/${tenant}/a/i/m`, 'queued', { qos: 1 });

    await waitUntil(async () => await metricValue(server, 'trustgate_mqtt_persistent_sessions_expired_total') >= 1, 10_000, 'the session expired');

    let log!: MessageLog;
    let sessionPresent: boolean | undefined;
    const back = resources.client(await connectApplication(server, tenant, { clientId: sessionId, clean: false }, (client) => {
      log = new MessageLog(client);
      client.once('connect', (connack) => { sessionPresent = connack.sessionPresent; });
    }));
    assert.equal(sessionPresent, false, 'no session is present any more');
    await subackCodes(back, { [`tc/${tenant}/a/i/#`]: { qos: 1 } });
    await controlArrives(publisher, `tc/${tenant}/a/i/marker`, [log]);
    assert.deepEqual(log.on(`tc/${tenant}/a/i/m`), [], 'the queued message went with the session');
  });

  test('persistent client ids parked past the tenant cap free their places when their sessions expire', async () => {
    const tenant = newTenant('parked');
    const first = await connectApplication(server, tenant, { clientId: `${tenant}_p1`, clean: false });
    resources.client(await connectApplication(server, tenant, { clientId: `${tenant}_p2`, clean: false }));
    assert.equal(await refusalCodeOf(connectApplication(server, tenant, { clientId: `${tenant}_p3`, clean: false }), resources), 5);
    const expiredBefore = await metricValue(server, 'trustgate_mqtt_persistent_sessions_expired_total');
    first.end(true);
    await closesWithin(first, 3_000);
    // Its session expires after 1 s away; until then the tenant stays full. The expiry is counted
    // when it happens; the place is free from then on (retried in case it frees just after).
    await waitUntil(async () => await metricValue(server, 'trustgate_mqtt_persistent_sessions_expired_total') > expiredBefore, 15_000, 'p1\'s session expired');
    await waitUntil(async () => {
      try {
        resources.client(await connectApplication(server, tenant, { clientId: `${tenant}_p3`, clean: false }));
        return true;
      } catch (error) {
        if ((error as { code?: number }).code !== 5) throw error;
        return false;
      }
    }, 5_000, 'a place freed by the expiry');
    // p1's session is gone: its id would be a new session, and p2 and p3 hold the places.
    assert.equal(await refusalCodeOf(connectApplication(server, tenant, { clientId: `${tenant}_p1`, clean: false }), resources), 5);
  });
});
