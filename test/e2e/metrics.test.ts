import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newTenant, randomId } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, issueAgent, MessageLog, registerVerifiedCa, Resources, subackCodes, withTimeout,
} from '../support/broker-helpers.ts';
import { hasSample, sampleValue } from '../support/metrics-text.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { TcpOutageProxy } from '../support/tcp-proxy.ts';
import { createTestDatabaseUrl, testPostgresBaseUrl, type TestDatabase } from '../support/test-databases.ts';
import { createCa } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';
import { describeNeeding } from '../support/test-services.ts';

// What Prometheus reads at /metrics (docs/metrics.md): each family moves with the behaviour it
// counts, labels stay bounded (route patterns, never URLs), and an open /metrics names no tenant.

const scrape = async (server: TestServer, authorization?: string): Promise<string> => {
  const response = await fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} });
  assert.equal(response.status, 200, await response.clone().text());
  return response.text();
};

/** Waits until `name{labels}` on /metrics reaches `atLeast`; returns the last scrape. */
const waitForSample = async (server: TestServer, name: string, labels: Record<string, string>, atLeast: number, what: string): Promise<string> => {
  let text = '';
  await waitUntil(async () => sampleValue(text = await scrape(server), name, labels) >= atLeast, 5_000, what)
    .catch(() => assert.fail(`${what}: ${name}${JSON.stringify(labels)} = ${sampleValue(text, name, labels)}, expected ≥ ${atLeast}`));
  return text;
};

describe('/metrics of a single node, open (TRUSTGATE_METRICS_TOKEN unset)', { timeout: 60_000 }, () => {
  let server: TestServer;
  const resources = new Resources();
  before(async () => { server = await startTestServer(); });
  after(async () => {
    await resources.closeAll();
    await server?.close();
  });

  it('says which build runs, that the node is ready and not draining, and that its database answers; no Redis series without Redis', async () => {
    const text = await scrape(server);
    assert.ok(hasSample(text, 'trustgate_build_info', { node_version: process.versions.node, openssl_version: process.versions.openssl }), text);
    assert.match(text, /trustgate_build_info\{version="\d+\.\d+\.\d+",commit="[^"]+"/);
    assert.equal(sampleValue(text, 'trustgate_ready'), 1);
    assert.equal(sampleValue(text, 'trustgate_draining'), 0);
    assert.equal(sampleValue(text, 'trustgate_database_up'), 1);
    assert.ok(sampleValue(text, 'trustgate_database_probe_duration_seconds_count') >= 1);
    assert.equal(hasSample(text, 'trustgate_redis_up'), false);
  });

  it('counts plain TCP bytes on the TLS port as a handshake failure with reason notTls', async () => {
    const before = sampleValue(await scrape(server), 'trustgate_tls_handshake_failures_total', { reason: 'notTls' });
    await new Promise<void>((resolve, reject) => {
      const socket = connectTcp(server.mqttPort, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: broker\r\n\r\n'));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
      socket.setTimeout(5_000, () => reject(new Error('the broker kept a plain-text connection open')));
    });
    await waitForSample(server, 'trustgate_tls_handshake_failures_total', { reason: 'notTls' }, before + 1, 'the garbage counted');
  });

  it('counts a client that rejects the broker certificate (TLS alert unknown_ca) as certificateRejected', async () => {
    const dir = await resources.tempDir('metrics');
    const otherCa = join(dir, 'other-ca.pem');
    await writeFile(otherCa, (await createCa({ subject: 'CN=not the broker root' })).certificatePem);
    const before = sampleValue(await scrape(server), 'trustgate_tls_handshake_failures_total', { reason: 'certificateRejected' });
    // OpenSSL's client sends the alert (Node's own client closes without one).
    await new Promise<void>((resolve) => {
      const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${server.mqttPort}`, '-CAfile', otherCa, '-verify_return_error'], { stdio: ['pipe', 'ignore', 'ignore'] });
      client.stdin.end();
      client.on('exit', () => resolve());
    });
    await waitForSample(server, 'trustgate_tls_handshake_failures_total', { reason: 'certificateRejected' }, before + 1, 'the rejection counted');
  });

  it('counts a connection that never completes its handshake (10 s) once, as timeout', async () => {
    const start = await scrape(server);
    const at = (reason: string) => sampleValue(start, 'trustgate_tls_handshake_failures_total', { reason });
    const idle = connectTcp(server.mqttPort, '127.0.0.1');
    idle.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => idle.on('close', () => resolve()));
    await withTimeout(closed, 15_000, 'the broker closing a connection idle in its handshake');
    await waitForSample(server, 'trustgate_tls_handshake_failures_total', { reason: 'timeout' }, at('timeout') + 1, 'the timeout counted');
    // Positive control: a later failure is counted, so whatever the idle socket's end caused is too.
    const garbage = connectTcp(server.mqttPort, '127.0.0.1', () => garbage.write('\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00'));
    garbage.on('error', () => undefined);
    const text = await waitForSample(server, 'trustgate_tls_handshake_failures_total', { reason: 'notTls' }, at('notTls') + 1, 'the control counted');
    assert.equal(sampleValue(text, 'trustgate_tls_handshake_failures_total', { reason: 'timeout' }), at('timeout') + 1);
    assert.equal(sampleValue(text, 'trustgate_tls_handshake_failures_total', { reason: 'connectionClosed' }), at('connectionClosed'), 'the timeout was also counted as a closed connection');
    garbage.destroy();
  });

  it('counts a REST 404 under its route pattern and status, times it, and never labels with the raw URL', async () => {
    const unknownId = randomId();
    const answer = await server.api(newTenant('metrics'), `/caCertificates/${unknownId}`);
    assert.equal(answer.status, 404);
    const unmatched = `/no-such-path-${randomId()}`;
    assert.equal((await fetch(`${server.url}${unmatched}?tenant=${randomId()}`)).status, 404);
    const route = '/api/mindconnectmqtt/v3/caCertificates/:id';
    const text = await waitForSample(server, 'trustgate_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }, 1, 'the unmatched 404 counted');
    assert.equal(sampleValue(text, 'trustgate_http_requests_total', { method: 'GET', route, status: '404' }), 1);
    assert.equal(sampleValue(text, 'trustgate_http_request_duration_seconds_count', { method: 'GET', route }), 1);
    assert.ok(sampleValue(text, 'trustgate_http_request_duration_seconds_bucket', { method: 'GET', route, le: '+Inf' }) === 1);
    assert.ok(!text.includes(unknownId) && !text.includes(unmatched), 'an id or a URL became a label');
  });

  it('moves messages and bytes in and out with a real MQTT.js publish, counts a denied PUBLISH as dropped, and names no tenant, CA or agent', async () => {
    const tenant = newTenant('metricstenant');
    const { ca, id: caId } = await registerVerifiedCa(server, tenant);
    const agentId = `${tenant}_sensor-${randomId().slice(0, 6)}`;
    const app = resources.client(await connectApplication(server, tenant));
    const log = new MessageLog(app);
    assert.deepEqual(await subackCodes(app, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    const agent = resources.client(await connectAgent(server, await issueAgent(ca, agentId.slice(tenant.length + 1)), agentId));

    const start = await scrape(server);
    const at = (name: string, labels: Record<string, string> = {}) => sampleValue(start, name, labels);
    const payload = Buffer.alloc(1_000, 0x61);
    const topic = `tc/${tenant}/${agentId}/o/data`;
    for (let i = 0; i < 3; i += 1) await agent.publishAsync(topic, payload, { qos: 1 });
    await waitUntil(() => log.on(topic).length === 3, 5_000, 'the application got the three messages');
    const moved = await scrape(server);
    const delta = (name: string, labels: Record<string, string> = {}) => sampleValue(moved, name, labels) - at(name, labels);
    assert.equal(delta('trustgate_mqtt_messages_received_total'), 3);
    assert.equal(delta('trustgate_mqtt_messages_sent_total'), 3);
    assert.ok(delta('trustgate_mqtt_received_bytes_total') >= 3_000, `received bytes +${delta('trustgate_mqtt_received_bytes_total')}`);
    assert.ok(delta('trustgate_mqtt_sent_bytes_total') >= 3_000, `sent bytes +${delta('trustgate_mqtt_sent_bytes_total')}`);
    assert.equal(sampleValue(moved, 'trustgate_mqtt_sessions'), 2);
    assert.equal(sampleValue(moved, 'trustgate_mqtt_queued_messages'), 0, 'every QoS 1 delivery was acknowledged');

    // Another tenant's topic: refused, the connection closed, one message dropped.
    const closing = closesWithin(agent, 5_000);
    agent.publish(`tc/${newTenant('other')}/x/o/data`, 'not yours', { qos: 0 });
    assert.equal(await closing, true);
    const dropped = await waitForSample(server, 'trustgate_mqtt_messages_dropped_total', { reason: 'publishDenied' },
      at('trustgate_mqtt_messages_dropped_total', { reason: 'publishDenied' }) + 1, 'the denied PUBLISH counted as dropped');

    assert.equal(dropped.includes('trustgate_tenant_'), false, 'per-tenant families only behind TRUSTGATE_METRICS_TOKEN');
    for (const name of [tenant, caId, agentId, agentId.slice(tenant.length + 1), 'metricstenant']) {
      assert.equal(dropped.includes(name), false, `the open /metrics names ${name}`);
    }
  });
});

describe('/metrics with TRUSTGATE_METRICS_TOKEN set', { timeout: 30_000 }, () => {
  const token = `metrics-${randomId()}`;
  let server: TestServer;
  before(async () => { server = await startTestServer({ TRUSTGATE_METRICS_TOKEN: token }); });
  after(() => server?.close());

  const status = async (authorization?: string) => {
    const response = await fetch(`${server.url}/metrics`, { headers: authorization === undefined ? {} : { authorization } });
    return { status: response.status, challenge: response.headers.get('www-authenticate'), text: await response.text() };
  };

  it('answers 401 without the token, with another one, with a tenant JWT or with the token in another scheme; 200 with it as Bearer', async () => {
    const tenantJwt = await server.token(newTenant('metrics'));
    for (const authorization of [undefined, 'Bearer wrong-token-of-some-length', `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Bearer ${tenantJwt}`, `Basic ${token}`, token, 'Bearer ']) {
      const answer = await status(authorization);
      assert.equal(answer.status, 401, `${authorization}: ${answer.text}`);
      assert.equal(answer.challenge, 'Bearer realm="metrics"');
      assert.match(JSON.parse(answer.text).errors[0].code, /^auth\.token(Missing|Invalid)$/);
      assert.equal(answer.text.includes('trustgate_'), false);
    }
    const ok = await status(`Bearer ${token}`);
    assert.equal(ok.status, 200);
    assert.match(ok.text, /^trustgate_ready 1$/m);
    assert.equal((await status(`bearer ${token}`)).status, 200, 'the scheme is case-insensitive (RFC 7235 §2.1)');
  });

  it('adds per-tenant series behind the token: sessions by tenant, gone once the tenant\'s last session leaves', async () => {
    const tenant = newTenant('tokentenant');
    const app = await connectApplication(server, tenant);
    const scrapeWithToken = async () => (await status(`Bearer ${token}`)).text;
    let text = '';
    await waitUntil(async () => sampleValue(text = await scrapeWithToken(), 'trustgate_tenant_mqtt_sessions', { tenant, kind: 'application' }) === 1, 5_000, 'the tenant series');
    await app.endAsync();
    await waitUntil(async () => !(text = await scrapeWithToken()).includes(tenant), 5_000, 'the tenant series gone');
  });

  it('still leaves /healthz and /readyz open to probes', async () => {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  });
});

describeNeeding('postgres')('/metrics while PostgreSQL is unreachable', { timeout: 60_000 }, () => {
  let database: TestDatabase | undefined;
  let server: TestServer | undefined;
  const base = new URL(testPostgresBaseUrl);
  const proxy = new TcpOutageProxy({ host: base.hostname, port: Number(base.port || 5432) });

  before(async () => {
    database = await createTestDatabaseUrl('postgres');
    await proxy.start();
    const url = new URL(database.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    server = await startTestServer({ TRUSTGATE_DATABASE_URL: url.toString() });
  });
  after(async () => {
    await proxy.close();
    await server?.close();
    await database?.drop();
  });

  it('shows trustgate_database_up 0 and trustgate_ready 0, counts the 503s by route, and recovers', async () => {
    let text = await scrape(server!);
    assert.equal(sampleValue(text, 'trustgate_database_up'), 1);
    await proxy.cut();
    // The probe runs every 5 s with a 2 s timeout.
    await waitUntil(async () => sampleValue(text = await scrape(server!), 'trustgate_database_up') === 0, 15_000, 'trustgate_database_up 0');
    assert.equal(sampleValue(text, 'trustgate_ready'), 0);
    assert.equal((await server!.api(newTenant('outage'), '/caCertificates')).status, 503);
    await waitForSample(server!, 'trustgate_http_requests_total', { route: '/api/mindconnectmqtt/v3/caCertificates', status: '503' }, 1, 'the 503 counted');
    await proxy.restore();
    await waitUntil(async () => sampleValue(text = await scrape(server!), 'trustgate_database_up') === 1, 15_000, 'trustgate_database_up 1 again');
    await waitUntil(async () => sampleValue(await scrape(server!), 'trustgate_ready') === 1, 15_000, 'trustgate_ready 1 again');
  });
});
