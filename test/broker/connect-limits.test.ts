import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { mosquittoAgentArgs, runProcess, writeAgentFiles } from '../support/broker-helpers.ts';
import { agentCertificate, ClientPool, connectOk, connectRefused, refusalCount, verifiedCa } from '../support/broker-refusal-helpers.ts';
import { sampleValue } from '../support/metrics-text.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { createCa } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';

// MQTT connect limits and bans (docs/limits.md, decision 0025) with real MQTT.js and mosquitto
// clients against an in-process server. The policy file makes each step an event, not a time: a
// client id's bucket holds 2 attempts and refills once in ~17 minutes, 3 refusals in a minute ban.

const SERVER_UNAVAILABLE = 3;
const NOT_AUTHORIZED = 5;

const policy = (banMs: number) => ({
  rest: null,
  mqtt: {
    connectPerClientId: { perSecond: 0.001, burst: 2 },
    connectPerSourceAddress: { perSecond: 1000, burst: 1000 },
    ban: { refusals: 3, windowMs: 60_000, banMs },
  },
});

const metric = async (server: TestServer, name: string, labels: Record<string, string>): Promise<number> =>
  sampleValue(await (await fetch(`${server.url}/metrics`)).text(), name, labels);

describe('MQTT connect limits and bans', () => {
  const pool = new ClientPool();
  let dir: string;
  let server: TestServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-limits-'));
    await writeFile(join(dir, 'policy.json'), JSON.stringify(policy(10 * 60_000)));
    server = await startTestServer({ TRUSTGATE_RATE_LIMITS: join(dir, 'policy.json') });
  });
  after(async () => {
    await pool.closeAll();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('an agent reconnecting in a tight loop is slowed (CONNACK 3), then banned, while other agents of its tenant and others connect; lifting the ban lets it in at once', async () => {
    const tenant = newTenant('loop');
    const other = newTenant('other');
    const { ca } = await verifiedCa(server, tenant);
    const { ca: otherCa } = await verifiedCa(server, other);
    const looping = await agentCertificate(ca, 'pump-7');
    const clientId = `${tenant}_pump-7`;
    const trustRefusalsBefore = await refusalCount(server, 'mqtt.connectRateLimited');

    // The burst: two connections, each closed again.
    for (let i = 0; i < 2; i += 1) await (await connectOk(server, pool, clientId, { agent: looping })).endAsync();
    // Then the rate limit: CONNACK 3, counted as rate limited, never as a trust refusal.
    assert.equal(await connectRefused(server, clientId, { agent: looping }), SERVER_UNAVAILABLE);
    assert.equal(await metric(server, 'trustgate_mqtt_connects_rate_limited_total', { kind: 'clientId' }), 1);
    assert.equal(await refusalCount(server, 'mqtt.connectRateLimited'), trustRefusalsBefore, 'not a trust refusal');
    // Two more refusals within the window: banned.
    assert.equal(await connectRefused(server, clientId, { agent: looping }), SERVER_UNAVAILABLE);
    assert.equal(await connectRefused(server, clientId, { agent: looping }), SERVER_UNAVAILABLE);
    assert.equal(await metric(server, 'trustgate_mqtt_bans_total', { kind: 'clientId' }), 1);
    assert.equal(await connectRefused(server, clientId, { agent: looping }), SERVER_UNAVAILABLE);
    assert.equal(await metric(server, 'trustgate_mqtt_connects_rate_limited_total', { kind: 'bannedClientId' }), 1);
    assert.equal(await metric(server, 'trustgate_mqtt_bans_active', { kind: 'clientId' }), 1);

    // Meanwhile: another agent of the same tenant, and one of another tenant, connect normally.
    await connectOk(server, pool, `${tenant}_pump-8`, { agent: await agentCertificate(ca, 'pump-8') });
    await connectOk(server, pool, `${other}_pump-7`, { agent: await agentCertificate(otherCa, 'pump-7') });

    // The tenant sees its ban; the other tenant neither sees nor lifts it.
    const listed = await server.api(tenant, '/bans');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.length, 1);
    const [ban] = listed.body;
    assert.match(ban.id, /^[0-9a-f]{24}$/);
    assert.equal(ban.clientId, clientId);
    assert.equal(ban.kind, 'clientId');
    assert.equal(ban.reason, 'mqtt.connectRateLimited');
    assert.equal(ban.certificateFingerprint, createHash('sha256').update(looping.certificateDer).digest('hex'));
    assert.ok(Date.parse(ban.expiresAt) > Date.parse(ban.bannedAt));
    assert.deepEqual((await server.api(other, '/bans')).body, []);
    const foreign = await server.api(other, `/bans/${ban.id}`, { method: 'DELETE' });
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.errors[0].code, 'ban.notFound');
    assert.equal(await connectRefused(server, clientId, { agent: looping }), SERVER_UNAVAILABLE, 'still banned after the foreign DELETE');
    // A read-only token may not lift it (admin scope).
    const readOnly = await fetch(`${server.apiUrl}/bans/${ban.id}`, {
      method: 'DELETE', headers: { authorization: `Bearer ${await server.token(tenant, { scopes: ['mcmqtt.read'] })}` },
    });
    assert.equal(readOnly.status, 403);

    // Lifted: in at once (with a full bucket), and gone from the list.
    assert.equal((await server.api(tenant, `/bans/${ban.id}`, { method: 'DELETE' })).status, 204);
    await connectOk(server, pool, clientId, { agent: looping });
    assert.deepEqual((await server.api(tenant, '/bans')).body, []);
    assert.equal((await server.api(tenant, `/bans/${ban.id}`, { method: 'DELETE' })).status, 404, 'a lifted ban is gone');
  });

  test('a spoofed client id without the agent\'s certificate gets only itself banned: the real agent keeps connecting', async () => {
    const tenant = newTenant('victim');
    const attacker = newTenant('attacker');
    const { ca } = await verifiedCa(server, tenant);
    const { ca: attackerCa } = await verifiedCa(server, attacker);
    const victim = await agentCertificate(ca, 'pump-1');
    const clientId = `${tenant}_pump-1`;
    await (await connectOk(server, pool, clientId, { agent: victim })).endAsync();
    // Three kinds of spoofer: an unknown CA's certificate with the victim's CN, another tenant's
    // agent certificate with the victim's CN, and no certificate at all. Each loops until banned.
    const spoofers = [
      await agentCertificate(await createCa(), 'pump-1'),
      await agentCertificate(attackerCa, 'pump-1'),
      undefined,
    ];
    for (const spoofer of spoofers) {
      for (let i = 0; i < 6; i += 1) {
        const code = await connectRefused(server, clientId, spoofer ? { agent: spoofer } : {});
        assert.ok(code === NOT_AUTHORIZED || code === 2 || code === SERVER_UNAVAILABLE, `refused (${code})`);
      }
    }
    // Banned: the spoofers' own subjects, none attributed to the victim's tenant.
    assert.ok(await metric(server, 'trustgate_mqtt_bans_total', { kind: 'clientId' }) >= 2);
    assert.deepEqual((await server.api(tenant, '/bans')).body, [], 'the victim\'s tenant is not shown the spoofers\' bans');
    assert.deepEqual((await server.api(attacker, '/bans')).body, [], 'nor is the attacker\'s tenant (the client id is not its)');
    // The real agent: its own bucket is untouched (one attempt used of two).
    await connectOk(server, pool, clientId, { agent: victim });
  });

  test('a revoked certificate in a loop (mosquitto_pub) is refused for trust (CONNACK 5), then banned (CONNACK 3); the ban is the tenant\'s, with its reason', async () => {
    const tenant = newTenant('revoked');
    const { ca, id } = await verifiedCa(server, tenant);
    const agent = await agentCertificate(ca, 'pump-9', { serialNumber: '0c0ffee9' });
    const clientId = `${tenant}_pump-9`;
    const revoked = await server.api(tenant, `/caCertificates/${id}/revokedCertificates`, { body: { serialNumber: '0c0ffee9' } });
    assert.equal(revoked.status, 201, JSON.stringify(revoked.body));
    const files = await writeAgentFiles(dir, 'pump-9', server, agent);
    const outputs: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const result = await runProcess('mosquitto_pub', [...mosquittoAgentArgs(server, files, clientId), '-t', `tc/${tenant}/${clientId}/o/x`, '-m', 'x'], { timeoutMs: 10_000 });
      assert.notEqual(result.code, 0);
      outputs.push(result.stderr + result.stdout);
    }
    // Two trust refusals (revoked: the burst), the third attempt is over the rate (the third
    // refusal: banned), the fourth is refused by the ban; both "server unavailable".
    assert.match(outputs[0]!, /not authori[sz]ed/i);
    assert.match(outputs[1]!, /not authori[sz]ed/i);
    assert.match(outputs[2]!, /unavailable/i);
    assert.match(outputs[3]!, /unavailable/i);
    const [ban] = (await server.api(tenant, '/bans')).body;
    assert.equal(ban?.clientId, clientId);
    assert.equal(ban.reason, 'mqtt.certificateRevoked', 'the ban names the trust reason, not the rate limit its retries ran into');
    assert.equal(ban.refusals, 3);
  });
});

describe('MQTT connect bans expire', () => {
  let dir: string;
  let server: TestServer;
  const pool = new ClientPool();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-limits-'));
    await writeFile(join(dir, 'policy.json'), JSON.stringify(policy(1_500)));
    server = await startTestServer({ TRUSTGATE_RATE_LIMITS: join(dir, 'policy.json') });
  });
  after(async () => {
    await pool.closeAll();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a ban ends by itself after banMs', async () => {
    const tenant = newTenant('expiry');
    const unknown = await agentCertificate(await createCa(), 'pump-1');
    const clientId = `${tenant}_pump-1`;
    for (let i = 0; i < 2; i += 1) assert.equal(await connectRefused(server, clientId, { agent: unknown }), NOT_AUTHORIZED);
    assert.equal(await connectRefused(server, clientId, { agent: unknown }), SERVER_UNAVAILABLE, 'over the rate: the third refusal, banned');
    assert.equal(await connectRefused(server, clientId, { agent: unknown }), SERVER_UNAVAILABLE, 'banned');
    // Expired: a trust refusal again (5), not the ban (3) nor the rate limit (the bucket is full once the ban ends).
    await waitUntil(async () => await connectRefused(server, clientId, { agent: unknown }) === NOT_AUTHORIZED, 15_000, 'the ban to expire');
  });
});

describe('MQTT connect limits per source address', () => {
  let dir: string;
  let server: TestServer;
  const pool = new ClientPool();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-limits-'));
    await writeFile(join(dir, 'policy.json'), JSON.stringify({
      rest: null,
      mqtt: { connectPerClientId: { perSecond: 1000, burst: 1000 }, connectPerSourceAddress: { perSecond: 0.001, burst: 3 }, ban: { refusals: 2, windowMs: 60_000, banMs: 600_000 } },
    }));
    server = await startTestServer({ TRUSTGATE_RATE_LIMITS: join(dir, 'policy.json') });
  });
  after(async () => {
    await pool.closeAll();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('an address past its rate is dropped before the TLS handshake (no CONNACK, not a handshake failure), then banned', async () => {
    const tenant = newTenant('addr');
    const { ca } = await verifiedCa(server, tenant);
    const agent = await agentCertificate(ca, 'pump-1');
    for (let i = 0; i < 3; i += 1) await (await connectOk(server, pool, `${tenant}_pump-1`, { agent })).endAsync();
    const handshakeFailures = async () => sampleValue(await (await fetch(`${server.url}/metrics`)).text(), 'trustgate_tls_handshake_failures_total');
    const failuresBefore = await handshakeFailures();
    // No CONNACK: the TCP connection is closed (or reset) before any TLS byte.
    const noConnack = (code: unknown) => code === undefined || code === 'ECONNRESET';
    assert.ok(noConnack(await connectRefused(server, `${tenant}_pump-1`, { agent })), 'closed without a CONNACK');
    assert.equal(await metric(server, 'trustgate_mqtt_connects_rate_limited_total', { kind: 'sourceAddress' }), 1);
    // Banned once refused more than its allowance in the window (burst 3 + 0.001/s × 60 s: 3).
    assert.ok(noConnack(await connectRefused(server, `${tenant}_pump-1`, { agent })));
    assert.equal(await metric(server, 'trustgate_mqtt_bans_total', { kind: 'sourceAddress' }), 0);
    assert.ok(noConnack(await connectRefused(server, `${tenant}_pump-1`, { agent })));
    assert.equal(await metric(server, 'trustgate_mqtt_bans_total', { kind: 'sourceAddress' }), 1);
    assert.ok(noConnack(await connectRefused(server, `${tenant}_pump-1`, { agent })));
    assert.equal(await metric(server, 'trustgate_mqtt_connects_rate_limited_total', { kind: 'bannedSourceAddress' }), 1);
    assert.equal(await metric(server, 'trustgate_mqtt_bans_active', { kind: 'sourceAddress' }), 1);
    assert.equal(await handshakeFailures(), failuresBefore, 'not counted as TLS handshake failures');
    // An address ban names no tenant: not listed to the tenant, nor can it lift it.
    assert.deepEqual((await server.api(tenant, '/bans')).body, []);
  });
});
