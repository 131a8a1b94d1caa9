import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import mqtt from 'mqtt';
import type { TenantId } from '../../src/shared/index.ts';
import { closesWithin, connectClient, subackCodes, withTimeout } from '../support/broker-helpers.ts';
import { inProcessBrokers } from '../support/in-process-brokers.ts';
import { waitUntil } from '../support/redis-helpers.ts';
import { describeNeeding } from '../support/test-services.ts';

// In a cluster aedes answers a CONNECT in several Redis round trips after `authenticate` (fetch
// the session's subscriptions, restore them, replace the will) before it registers the client.
// A client that drops its connection in that window is closed before it is registered: aedes
// then registers it anyway (`registerClient` runs for a closed client) and never emits
// `clientDisconnect` for it. Whatever trustgate keeps per connection until that event — the
// session's expiry clock, the tenant's filter count, the session registry, the deadline timer —
// stayed for ever: a persistent session that never expires, a tenant whose filter cap fills with
// ghosts, a closed Client kept in memory per dropped connection.

const TENANT = 'dropped' as TenantId;
const brokers = inProcessBrokers({ tenant: TENANT, caName: 'dropped-connect', prefixLabel: 'dropped', cleanUp: 'once' });
const { resources } = brokers;

interface DelWill { delWill(client: { id: string; conn?: { closed?: boolean; once(event: 'close', listener: () => void): void } }): Promise<unknown> }

describeNeeding('redis')('a connection dropped while aedes answers its CONNECT (cluster)', () => {
  test('its persistent session still expires, and its restored filters do not stay counted against the tenant', { timeout: 30_000 }, async () => {
    const node = await brokers.startNode({ config: { TRUSTGATE_MQTT_SESSION_EXPIRY_SECONDS: '3', TRUSTGATE_MQTT_MAX_FILTERS_PER_TENANT: '1' } });
    const { backplane, metrics } = node;
    const metric = async (name: string): Promise<number> => (await metrics.getSingleMetric(name)!.get()).values.reduce((sum, v) => sum + v.value, 0);
    const url = brokers.url(node);
    const options = brokers.applicationOptions();
    const victimId = brokers.unique('ghost');

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
    const node = await brokers.startNode();
    const { backplane } = node;
    const url = brokers.url(node);
    const options = brokers.applicationOptions();
    const clientId = brokers.unique('held');

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
