import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, issueAgent, pingRoundTrip, refusalCodeOf, registerVerifiedCa, Resources, subackCodes,
} from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';

// Finding 5 of issue 10: sessions outlived what admitted them — an application kept publishing and
// receiving after its token's exp, an agent stayed connected after its certificate (or its CA)
// expired. A session lives no longer than what admitted it: when the
// application's token expires or the agent's certificate (or its CA) expires, the session is
// closed (within a second). Real MQTT.js clients; every wait is an event with a deadline.

const WITHIN_MS = 1_000;
const NOT_AUTHORIZED = 5;
const BAD_USER_NAME_OR_PASSWORD = 4;

/** Waits for the client's connection to close, at most until `deadlineMs` + 1 s + slack; answers when it closed. */
const closedAt = async (client: MqttClient, deadlineMs: number): Promise<number> => {
  const closed = await closesWithin(client, Math.max(0, deadlineMs - Date.now()) + WITHIN_MS + 2_000);
  assert.equal(closed, true, `still connected ${Date.now() - deadlineMs} ms after its deadline`);
  return Date.now();
};

const expiryMetric = async (server: TestServer, reason: string): Promise<number> => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`trustgate_mqtt_sessions_closed_by_expiry_total{reason="${reason}"}`));
  return Number(line?.split(' ').at(-1) ?? NaN);
};

describe('sessions end when what admitted them expires', { timeout: 60_000 }, () => {
  let server: TestServer;
  const resources = new Resources();

  // The control session: admitted by a long-lived token before the tests below, it lives through
  // every deadline they make fire; the last test checks it is still there.
  let longLived: MqttClient;
  let longLivedClosed = false;

  before(async () => {
    server = await startTestServer();
    longLived = resources.client(await connectApplication(server, newTenant('long')));
    longLived.on('close', () => { longLivedClosed = true; });
  });
  after(async () => {
    await resources.closeAll();
    await server?.close();
  });

  test('an application whose token expires in ~2 s is disconnected within a second of exp, and cannot come back with it', async () => {
    const tenant = newTenant('exp');
    const token = await server.token(tenant, { ttlSeconds: 3 });
    const expMs = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).exp * 1000;
    const before = await expiryMetric(server, 'auth.tokenExpired');
    const application = resources.client(await connectApplication(server, tenant, { password: token }));
    assert.deepEqual(await subackCodes(application, { [`tc/${tenant}/#`]: { qos: 1 } }), [1], 'the session works while the token is valid');
    const at = await closedAt(application, expMs);
    assert.ok(at >= expMs - 50, `closed ${expMs - at} ms before exp`);
    assert.ok(at - expMs < WITHIN_MS, `closed ${at - expMs} ms after exp`);
    assert.equal(await expiryMetric(server, 'auth.tokenExpired'), before + 1);
    assert.equal(await refusalCodeOf(connectApplication(server, tenant, { password: token }), resources), BAD_USER_NAME_OR_PASSWORD);
  });

  test('an agent whose certificate expires in ~2 s is disconnected within a second of notAfter, and cannot come back with it', async () => {
    const tenant = newTenant('cexp');
    const { ca } = await registerVerifiedCa(server, tenant);
    // X.509 times have whole seconds.
    const notAfterMs = (Math.floor(Date.now() / 1000) + 3) * 1000;
    const certificate = await issueAgent(ca, 'short-1', { notAfter: new Date(notAfterMs) });
    const clientId = `${tenant}_short-1`;
    const before = await expiryMetric(server, 'mqtt.certificateExpired');
    const agent = resources.client(await connectAgent(server, certificate, clientId));
    assert.deepEqual(await subackCodes(agent, { [`tc/${tenant}/${clientId}/i/#`]: { qos: 1 } }), [1]);
    const at = await closedAt(agent, notAfterMs);
    assert.ok(at - notAfterMs < WITHIN_MS, `closed ${at - notAfterMs} ms after notAfter`);
    assert.ok(at >= notAfterMs - 50, `closed ${notAfterMs - at} ms before notAfter`);
    assert.equal(await expiryMetric(server, 'mqtt.certificateExpired'), before + 1);
    assert.equal(await refusalCodeOf(connectAgent(server, certificate, clientId), resources), NOT_AUTHORIZED);
  });

  test('an agent whose CA expires first is disconnected within a second of the CA\'s notAfter (reason mqtt.caExpired)', async () => {
    const tenant = newTenant('caexp');
    const caNotAfterMs = (Math.floor(Date.now() / 1000) + 6) * 1000;
    const { ca } = await registerVerifiedCa(server, tenant, { notAfter: new Date(caNotAfterMs) });
    const certificate = await issueAgent(ca, 'rides-1'); // valid for a year: its CA is what ends
    const clientId = `${tenant}_rides-1`;
    const before = await expiryMetric(server, 'mqtt.caExpired');
    const agent = resources.client(await connectAgent(server, certificate, clientId));
    const at = await closedAt(agent, caNotAfterMs);
    assert.ok(at - caNotAfterMs < WITHIN_MS, `closed ${at - caNotAfterMs} ms after the CA's notAfter`);
    assert.ok(at >= caNotAfterMs - 50, `closed ${caNotAfterMs - at} ms before the CA's notAfter`);
    assert.equal(await expiryMetric(server, 'mqtt.caExpired'), before + 1);
  });

  test('a session admitted by a long-lived token stays (control)', async () => {
    // Connected before the sessions above, whose deadlines fired meanwhile; it still answers.
    await pingRoundTrip(longLived);
    assert.equal(longLivedClosed, false, 'the long-lived session was never closed');
    assert.equal(longLived.connected, true);
  });
});
