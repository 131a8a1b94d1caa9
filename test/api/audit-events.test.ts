import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { loadDevSigningKey, mintDevToken } from '../../src/auth/index.ts';
import { assertError, newTenant, proofFor, rawRequest, registrationCodeOf } from '../support/api-helpers.ts';
import { closesWithin, connectAgent, issueAgent, MessageLog, Resources, subackCodes, waitForAgent } from '../support/broker-helpers.ts';
import { captureLogs } from '../support/capture-logs.ts';
import { opensslCrl } from '../support/openssl-crl.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { createCa, createCsr } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';

// Issue 16 part 1: every action of SPEC's list ("Audit trail and limits") appears in
// GET /auditEvents with the right actor (the token's sub for REST, the client id for onboarding
// and renewal over MQTT, trustgate for sessions closed by a trust change) and outcome; another
// tenant never sees them; a read token gets 403; bad filters and cursors get catalogued 400s.

for (const dialect of testDialects) describeOn(dialect)(`GET /auditEvents on ${dialect}`, { timeout: 180_000 }, () => {
  let server: TestServer;
  const logs = captureLogs('info');
  const resources = new Resources();
  before(async () => {
    server = await startTestServer({}, { dialect, logger: logs.logger });
    resources.add(() => server.close());
  });
  after(() => resources.closeAll());

  /** A token whose `sub` names the operator, as an identity provider's would. */
  const operatorToken = async (tenant: string, scopes = ['mcmqtt.admin']): Promise<string> =>
    mintDevToken((await loadDevSigningKey(server.dataDir))!, { tenant, scopes, ttlSeconds: 600, subject: `ops@${tenant}` });
  const call = async (tenant: string, path: string, init: { method?: string; body?: unknown } = {}) => {
    const answer = await rawRequest(server, path, {
      tenant, method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), authorization: `Bearer ${await operatorToken(tenant)}`,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    assert.ok(answer.status < 300, `${init.method ?? 'POST'} ${path}: ${answer.status} ${answer.text}`);
    return answer;
  };
  const auditEvents = async (tenant: string, query = ''): Promise<any[]> => {
    const answer = await rawRequest(server, `/auditEvents${query}`, { authorization: `Bearer ${await operatorToken(tenant)}` });
    assert.equal(answer.status, 200, answer.text);
    return answer.body.auditEvents;
  };

  it('every action of the list, with its actor and outcome; another tenant sees none; a read token gets 403', async () => {
    const tenant = newTenant('au');
    const operator = { type: 'token', id: `ops@${tenant}` };

    // CA uploaded, a failed verification, then verified.
    const ca = await createCa({ subject: `CN=${tenant}-ca` });
    const uploaded = (await call(tenant, '/caCertificates', { body: { name: 'plant', caCertificate: ca.certificatePem } })).body;
    const code = await registrationCodeOf(server, tenant, uploaded.id);
    const stranger = await createCa({ subject: 'CN=stranger' });
    const refused = await rawRequest(server, `/caCertificates/${uploaded.id}/verify`, {
      authorization: `Bearer ${await operatorToken(tenant)}`, body: JSON.stringify({ verificationCertificate: (await proofFor(stranger, code)).certificatePem }),
    });
    assert.equal(refused.status, 400, refused.text);
    await call(tenant, `/caCertificates/${uploaded.id}/verify`, { body: { verificationCertificate: (await proofFor(ca, code, { version: 1 })).certificatePem } });

    // Onboarded by its first connection; disabled (its session closed), enabled.
    const pumpCertificate = await issueAgent(ca, 'pump-7');
    const pumpClientId = `${tenant}_pump-7`;
    const pump = resources.client(await connectAgent(server, pumpCertificate, pumpClientId));
    const agent = await waitForAgent(server, tenant, pumpClientId, (a) => a.online === true);
    const closed = closesWithin(pump, 10_000);
    await call(tenant, `/agents/${agent.id}`, { method: 'PATCH', body: { enabled: false } });
    assert.equal(await closed, true);
    await call(tenant, `/agents/${agent.id}`, { method: 'PATCH', body: { enabled: true } });

    // Revoked by serial, the hold lifted, a CRL imported.
    await call(tenant, `/caCertificates/${uploaded.id}/revokedCertificates`, { body: { serialNumber: '0a1b', reason: 'certificateHold' } });
    await call(tenant, `/caCertificates/${uploaded.id}/revokedCertificates/0a1b`, { method: 'DELETE' });
    const crl = await opensslCrl({ caCertificatePem: ca.certificatePem, caPrivateKeyPem: ca.privateKeyPem, revoked: [{ serial: '77' }], crlNumber: 3 });
    await call(tenant, `/caCertificates/${uploaded.id}/crl`, { method: 'PUT', body: { crl } });

    // A managed agent certificate: issued, the agent onboarded and renewed over MQTT, then revoked (its session closed).
    const issued = (await call(tenant, '/agentCertificates', { body: { name: 'valve-1' } })).body;
    const valve = resources.client(await connectAgent(server, { certificatePem: issued.publicKey, privateKeyPem: issued.privateKey }, issued.clientId));
    const answers = new MessageLog(valve);
    assert.deepEqual(await subackCodes(valve, { [`tc/${tenant}/${issued.clientId}/i/cert_v1/cert`]: { qos: 1 } }), [1]);
    await valve.publishAsync(`tc/${tenant}/${issued.clientId}/o/cert_v1/csr`, JSON.stringify({ id: 'r1', csr: (await createCsr({ subject: 'CN=valve-1' })).csrPem }), { qos: 1 });
    const renewal = JSON.parse((await answers.next(`tc/${tenant}/${issued.clientId}/i/cert_v1/cert`, 10_000)).payload.toString());
    assert.equal(renewal.error, undefined, JSON.stringify(renewal));
    const valveClosed = closesWithin(valve, 10_000);
    await call(tenant, `/agentCertificates/${issued.id}`, { method: 'DELETE' });
    assert.equal(await valveClosed, true);

    // The agent and the CA deleted.
    await call(tenant, `/agents/${agent.id}`, { method: 'DELETE' });
    await call(tenant, `/caCertificates/${uploaded.id}`, { method: 'DELETE' });

    // Sessions closed are recorded after the close, in the background: wait for both.
    await waitUntil(async () => (await auditEvents(tenant, '?action=session.closed')).length >= 2, 10_000, 'both closed sessions are recorded');
    const events = await auditEvents(tenant, '?limit=1000');
    const find = (action: string, target?: string) => {
      const found = events.filter((event) => event.action === action && (target === undefined || event.target === target));
      assert.equal(found.length, 1, `one ${action} ${target ?? ''}: ${JSON.stringify(events.map((e) => [e.action, e.target]))}`);
      return found[0];
    };
    const rest = (action: string, target: string, outcome = 'success') => {
      const event = find(action, target);
      assert.deepEqual(event.actor, operator, action);
      assert.equal(event.outcome, outcome, action);
      assert.equal(event.tenant, tenant);
      assert.equal(event.sourceAddress, '127.0.0.1');
      assert.match(event.requestId, /.+/);
      assert.equal(event.count, 1);
      return event;
    };
    rest('caCertificate.uploaded', `caCertificate:${uploaded.id}`);
    assert.equal(rest('caCertificate.verificationFailed', `caCertificate:${uploaded.id}`, 'failure').reason, refused.body.errors[0].code);
    rest('caCertificate.verified', `caCertificate:${uploaded.id}`);
    rest('agent.disabled', `agent:${pumpClientId}`);
    rest('agent.enabled', `agent:${pumpClientId}`);
    assert.equal(rest('certificate.revoked', `certificate:${uploaded.id}/a1b`).reason, 'certificateHold');
    rest('certificate.revocationLifted', `certificate:${uploaded.id}/a1b`);
    assert.match(rest('crl.imported', `caCertificate:${uploaded.id}`).reason, /crlNumber 3, 1 entries/);
    rest('agentCertificate.issued', `agentCertificate:${issued.id}`);
    rest('agentCertificate.revoked', `agentCertificate:${issued.id}`);
    rest('agent.deleted', `agent:${pumpClientId}`);
    rest('caCertificate.deleted', `caCertificate:${uploaded.id}`);
    for (const clientId of [pumpClientId, issued.clientId]) {
      const onboarded = find('agent.onboarded', `agent:${clientId}`);
      assert.deepEqual(onboarded.actor, { type: 'agent', id: clientId });
      assert.equal(onboarded.requestId, null);
      assert.match(onboarded.sourceAddress, /127\.0\.0\.1/);
    }
    const renewed = find('agentCertificate.renewed', `agentCertificate:${renewal.agentCertificateId}`);
    assert.deepEqual(renewed.actor, { type: 'agent', id: issued.clientId });
    assert.equal(find('session.closed', `agent:${pumpClientId}`).reason, 'agentDisabled');
    assert.deepEqual(find('session.closed', `agent:${issued.clientId}`).actor, { type: 'system', id: 'trustgate' });
    assert.equal(find('session.closed', `agent:${issued.clientId}`).reason, 'agentCertificateRevoked');
    // Newest first.
    const times = events.map((event) => Date.parse(event.time));
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
    // Filtered by action and time.
    assert.deepEqual((await auditEvents(tenant, '?action=agent.enabled')).map((e) => e.action), ['agent.enabled']);
    const verifiedAt = find('caCertificate.verified', `caCertificate:${uploaded.id}`).time;
    assert.ok((await auditEvents(tenant, `?until=${encodeURIComponent(verifiedAt)}`)).every((event) => event.time < verifiedAt));

    // Another tenant sees none of them, and a read token none at all.
    assert.deepEqual(await auditEvents(newTenant('other')), []);
    const reader = await rawRequest(server, '/auditEvents', { authorization: `Bearer ${await operatorToken(tenant, ['mcmqtt.read'])}` });
    assertError(reader, 403, 'auth.scopeMissing');
    // Each entry was a log line too, with no key or token in it.
    const lines = logs.lines.filter((line) => line.audit === true && line.tenant === tenant);
    assert.ok(lines.length >= events.length, `${lines.length} log lines for ${events.length} events`);
    assert.ok(lines.every((line) => !/PRIVATE KEY|eyJ/.test(JSON.stringify(line))));
  });

  it('pages with nextCursor through the API; hostile cursors, limits and filters get catalogued 400s, never a 5xx, and change nothing', async () => {
    const tenant = newTenant('ap');
    for (const name of ['a', 'b', 'c']) await call(tenant, '/agentCertificates', { body: { name } });
    const first = await rawRequest(server, '/auditEvents?limit=2', { authorization: `Bearer ${await operatorToken(tenant)}` });
    assert.equal(first.body.auditEvents.length, 2);
    assert.match(first.body.nextCursor, /^[A-Za-z0-9_-]+$/);
    const second = await rawRequest(server, `/auditEvents?limit=2&cursor=${first.body.nextCursor}`, { authorization: `Bearer ${await operatorToken(tenant)}` });
    assert.equal(second.body.auditEvents.length, 1);
    assert.equal(second.body.nextCursor, null);
    assert.deepEqual([...first.body.auditEvents, ...second.body.auditEvents].map((e) => e.target).length, 3);

    const otherTenant = newTenant('ap');
    for (const name of ['x', 'y']) await call(otherTenant, '/agentCertificates', { body: { name } });
    const foreign = (await rawRequest(server, '/auditEvents?limit=1', { authorization: `Bearer ${await operatorToken(otherTenant)}` })).body.nextCursor;
    const cursor = first.body.nextCursor as string;
    const decoded = Buffer.from(cursor, 'base64url').toString();
    const hostile: [string, string][] = [
      [`cursor=${foreign}`, 'auditEvent.cursorInvalid'],
      [`cursor=${cursor.slice(0, -3)}`, 'auditEvent.cursorInvalid'],
      [`cursor=${cursor}AA`, 'auditEvent.cursorInvalid'],
      [`cursor=${Buffer.from(decoded.replace(/\|[0-9a-f]{24}$/, "|' OR 1=1 --")).toString('base64url')}`, 'auditEvent.cursorInvalid'],
      [`cursor=${Buffer.from(decoded.replace(/\|(\d{4})-\d{2}-/, '|$1-13-')).toString('base64url')}`, 'auditEvent.cursorInvalid'],
      [`cursor=${Buffer.from(decoded.replace(/^v1/, 'v2')).toString('base64url')}`, 'auditEvent.cursorInvalid'],
      [`cursor=${Buffer.from(`${decoded}|extra`).toString('base64url')}`, 'auditEvent.cursorInvalid'],
      ['cursor=%00%01', 'auditEvent.cursorInvalid'],
      ['cursor=bm90IGEgY3Vyc29y', 'auditEvent.cursorInvalid'],
      ['limit=0', 'auditEvent.limitInvalid'],
      ['limit=1001', 'auditEvent.limitInvalid'],
      ['limit=99999999999999', 'auditEvent.limitInvalid'],
      ['limit=-1', 'auditEvent.limitInvalid'],
      ['limit=1e3', 'auditEvent.limitInvalid'],
      ['limit=abc', 'auditEvent.limitInvalid'],
      ['since=yesterday', 'auditEvent.sinceInvalid'],
      ['since=2026-02-30T00:00:00Z', 'auditEvent.sinceInvalid'],
      ['since=2026-12-03T03:12:00', 'auditEvent.sinceInvalid'],
      [`since=${encodeURIComponent("2026-01-01' OR '1'='1")}`, 'auditEvent.sinceInvalid'],
      ['until=2026-12-03T24:00:00Z', 'auditEvent.untilInvalid'],
      ['since=2026-12-03T00:00:00Z&until=2026-12-02T00:00:00Z', 'auditEvent.untilInvalid'],
      [`action=${encodeURIComponent("caCertificate.deleted' OR '1'='1")}`, 'auditEvent.actionInvalid'],
      ['action=%25', 'auditEvent.actionInvalid'],
      [`cursor=${'A'.repeat(600)}`, 'request.invalid'],
    ];
    for (const [query, code] of hostile) {
      const answer = await rawRequest(server, `/auditEvents?${query}`, { authorization: `Bearer ${await operatorToken(tenant)}` });
      assert.equal(answer.status, 400, `${query}: ${answer.text}`);
      assertError(answer, 400, code);
    }
    assert.equal((await auditEvents(tenant)).length, 3, 'nothing changed');
    assert.equal((await auditEvents(tenant, '?since=2026-01-01&limit=1000')).length, 3, 'a bare date is accepted');
  });
});

// The REST rate limits (issue 16 part 2) record their refusals through the same trail: wired in the app.
describeOn('sqlite')('GET /auditEvents with the REST rate limits on', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ TRUSTGATE_RATE_LIMITS: 'mindconnect' }); });
  after(async () => { await server?.close(); });

  it('a 429 appears as rateLimit.exceeded with the token\'s subject and the refused call\'s request id', async () => {
    const tenant = newTenant('rl');
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await server.api(tenant, '/caCertificates', { body: { name: `ca-${i}`, caCertificate: (await createCa()).certificatePem } }));
    assert.deepEqual(answers.map((answer) => answer.status), [201, 201, 429]);
    const refused = answers[2]!;
    await waitUntil(async () => (await server.api(tenant, '/auditEvents?action=rateLimit.exceeded')).body.auditEvents.length === 1, 10_000, 'the refusal is recorded');
    const [event] = (await server.api(tenant, '/auditEvents?action=rateLimit.exceeded')).body.auditEvents;
    assert.deepEqual(event.actor, { type: 'token', id: `dev-user@${tenant}` });
    assert.equal(event.outcome, 'failure');
    assert.equal(event.requestId, refused.body.errors[0].logref);
    assert.deepEqual(await server.api(newTenant('rl'), '/auditEvents').then((answer) => answer.body.auditEvents), []);
  });
});
