import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import {
  brokerUrl, closesWithin, connectAgent, connectApplication, connectClient, MessageLog, refusalCodeOf, Resources, subackCodes, waitForAgent,
} from '../support/broker-helpers.ts';
import { refusalCounts } from '../support/broker-refusal-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { waitUntil } from '../support/wait-until.ts';

// Issue 19 part 1 (SPEC "MindConnect commanding, agent tokens, events out"): an agent publishes
// {"id"} to o/agm_v3/t and gets a token on i/agm_v3/tr, verifiable with /.well-known/jwks.json;
// at most one per minute; bad requests get coded errors on the same topic; the token opens none
// of trustgate's REST APIs nor the broker as a tenant application (401 / CONNACK 4).

const credentialsOf = (issued: any) => ({ certificatePem: issued.publicKey as string, privateKeyPem: issued.privateKey as string });

/** An agent subscribed to its token answers: `ask` publishes a request (QoS 0, as the sample agent) and waits for the next answer. */
const tokenClient = async (agent: MqttClient, tenant: string, clientId: string) => {
  const answers = new MessageLog(agent);
  const replyTopic = `tc/${tenant}/${clientId}/i/agm_v3/tr`;
  assert.deepEqual(await subackCodes(agent, { [replyTopic]: { qos: 1 } }), [1]);
  let seen = 0;
  const nextAnswer = async (): Promise<any> => {
    await waitUntil(() => answers.on(replyTopic).length > seen, 10_000, 'an agent token answer');
    return JSON.parse(answers.on(replyTopic)[seen++]!.payload.toString());
  };
  return {
    ask: async (payload: string | Record<string, unknown>): Promise<any> => {
      await agent.publishAsync(`tc/${tenant}/${clientId}/o/agm_v3/t`, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 0 });
      return nextAnswer();
    },
    nextAnswer,
  };
};

describe('agent access tokens over MQTT', { timeout: 90_000 }, () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
    resources.add(() => server.close());
  });
  after(() => resources.closeAll());

  const issue = async (tenant: string, name: string): Promise<any> => {
    const answer = await server.api(tenant, '/agentCertificates', { body: { name } });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return answer.body;
  };

  test('MQTT.js: the answer echoes the request id and carries a JWT that verifies with the JWKS; the request reaches no subscriber; the grant is audited and counted', async () => {
    const tenant = newTenant('at');
    const issued = await issue(tenant, 'pump-1');
    const app = resources.client(await connectApplication(server, tenant));
    const appLog = new MessageLog(app);
    assert.deepEqual(await subackCodes(app, { [`tc/${tenant}/#`]: { qos: 1 }, [`tc/${tenant}/+/i/agm_v3/tr`]: { qos: 1 } }), [1, 1]);
    const agent = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    const tokens = await tokenClient(agent, tenant, issued.clientId);

    const answer = await tokens.ask({ id: 'req-1' });
    assert.deepEqual([answer.id, answer.correlationId, answer.requestId, answer.error], ['req-1', 'req-1', 'req-1', undefined], JSON.stringify(answer));
    const { data } = answer;
    assert.deepEqual([data.token_type, data.expires_in, data.scope], ['Bearer', 3600, ['mdsp:core:DefaultAgent']]);
    assert.ok(Math.abs(Date.parse(data.timestamp) - Date.now()) < 60_000);
    const { payload, protectedHeader } = await jwtVerify(data.access_token, createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`)), {
      issuer: 'urn:trustgate:agent-token-issuer', audience: 'urn:trustgate:agent', algorithms: ['ES256'], typ: 'trustgate-agent+jwt',
    });
    assert.equal(payload.sub, issued.clientId);
    assert.equal(payload.ten, tenant);
    assert.equal(payload.jti, data.jti);
    assert.equal(payload.exp! - payload.iat!, 3600);
    const jwks = await (await fetch(`${server.url}/.well-known/jwks.json`)).json() as { keys: { kid: string }[] };
    assert.equal(jwks.keys.length, 2, 'the dev issuer key and the agent token key');
    assert.ok(jwks.keys.some((key) => key.kid === protectedHeader.kid));

    // Neither the request nor the answer reaches a tenant application (security review of decision
    // 0033): the answer is the agent's bearer credential. A message the agent publishes after it
    // (o/data) does reach the application, so the answer would have arrived before it.
    await agent.publishAsync(`tc/${tenant}/${issued.clientId}/o/data`, 'after the token', { qos: 1 });
    await appLog.next(`tc/${tenant}/${issued.clientId}/o/data`, 5_000, 'after the token');
    assert.deepEqual(appLog.under(`tc/${tenant}/${issued.clientId}/i/agm_v3`), [], 'the answer (the token) reaches only the agent');
    assert.deepEqual(appLog.under(`tc/${tenant}/${issued.clientId}/o/agm_v3`), [], 'the request is consumed by the broker');

    const audit = await server.api(tenant, '/auditEvents?action=agentToken.issued');
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    const events = (audit.body.auditEvents ?? audit.body) as any[];
    assert.equal(events.length, 1, JSON.stringify(audit.body));
    assert.deepEqual([events[0].actor?.id ?? events[0].actorId, events[0].target, events[0].reason], [issued.clientId, `agent:${issued.clientId}`, `jti:${data.jti}`]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^trustgate_agent_token_requests_total\{outcome="issued"\} [1-9]/m);
  });

  test('bad requests get agentToken.requestInvalid with the id when known and keep the connection; a second request within the minute gets agentToken.rateLimited with retryAt', async () => {
    const tenant = newTenant('ab');
    const issued = await issue(tenant, 'pump-2');
    const agent = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    const tokens = await tokenClient(agent, tenant, issued.clientId);
    const cases: [string | Record<string, unknown>, string | null][] = [
      ['{not json', null],
      ['[1,2]', null],
      ['"req"', null],
      ['null', null],
      [{}, null],
      [{ id: 7 }, null],
      [{ id: '' }, null],
      [{ id: 'x'.repeat(257) }, null],
      [Buffer.from([0xff, 0xfe, 0x00]).toString('latin1'), null],
    ];
    for (const [payload, id] of cases) {
      const answer = await tokens.ask(payload);
      assert.equal(answer.error?.code, 'agentToken.requestInvalid', JSON.stringify({ payload, answer }));
      assert.equal(answer.id, id);
      assert.equal(answer.data, undefined);
    }
    const granted = await tokens.ask({ id: 'x'.repeat(256), extra: { ignored: true } });
    assert.equal(granted.error, undefined, JSON.stringify(granted));
    const again = await tokens.ask({ id: 'again' });
    assert.deepEqual([again.id, again.error?.code, again.data], ['again', 'agentToken.rateLimited', undefined]);
    const retryAt = Date.parse(again.error.retryAt);
    assert.ok(retryAt > Date.now() + 50_000 && retryAt <= Date.now() + 60_000, again.error.retryAt);
    // A burst: every request answered, none granted; the connection stays.
    for (let i = 0; i < 10; i++) agent.publish(`tc/${tenant}/${issued.clientId}/o/agm_v3/t`, JSON.stringify({ id: `b-${i}` }), { qos: 0 });
    for (let i = 0; i < 10; i++) assert.equal((await tokens.nextAnswer()).error.code, 'agentToken.rateLimited');
    assert.equal(agent.connected, true);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^trustgate_agent_token_requests_total\{outcome="rateLimited"\} (1[1-9]|[2-9]\d)/m);
    assert.match(metrics, /^trustgate_agent_token_requests_total\{outcome="requestInvalid"\} [1-9]/m);
  });

  test('a request sent with the retain flag is answered but never retained (a retained message on o/data is the control)', async () => {
    const tenant = newTenant('aq');
    const issued = await issue(tenant, 'pump-r');
    const agent = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    const tokens = await tokenClient(agent, tenant, issued.clientId);
    await agent.publishAsync(`tc/${tenant}/${issued.clientId}/o/data`, 'retained control', { qos: 1, retain: true });
    await agent.publishAsync(`tc/${tenant}/${issued.clientId}/o/agm_v3/t`, JSON.stringify({ id: 'ret-1' }), { qos: 1, retain: true });
    const answer = await tokens.nextAnswer();
    assert.deepEqual([answer.id, answer.error], ['ret-1', undefined]);

    const app = resources.client(await connectApplication(server, tenant));
    const appLog = new MessageLog(app);
    assert.deepEqual(await subackCodes(app, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    await appLog.next(`tc/${tenant}/${issued.clientId}/o/data`, 5_000, 'retained control');
    assert.deepEqual(appLog.under(`tc/${tenant}/${issued.clientId}/o/agm_v3`), []);
  });

  test('hostile ids and QoS 2: quotes, control characters and JSON in the id come back as the same string inside valid JSON; a QoS 2 request closes the connection unanswered; a reconnect does not reset the minute', async () => {
    // Security review of decision 0033: the id is echoed three times; it must not break out of the answer.
    const tenant = newTenant('ah');
    const issued = await issue(tenant, 'pump-h');
    const agent = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    const tokens = await tokenClient(agent, tenant, issued.clientId);
    const hostile = ['"}, "data": {"access_token": "forged"}, "x": {"', '\u0000\n\r\t\u001b[2J', '\u2028\u2029</script>', '\\"\\u0022', 'é😀'.repeat(64)];
    for (const id of hostile) {
      const answer = await tokens.ask({ id, padding: 'x'.repeat(64 * 1024) });
      assert.deepEqual([answer.id, answer.correlationId ?? answer.id, Object.keys(answer).sort().join()], [id, id, answer.error ? 'error,id' : 'correlationId,data,id,requestId'], JSON.stringify(answer));
      assert.notEqual(answer.data?.access_token, 'forged');
    }
    // QoS 0 and 1 only (README): a QoS 2 request closes the connection before it is handled, no answer.
    const closed = closesWithin(agent, 5_000);
    agent.publish(`tc/${tenant}/${issued.clientId}/o/agm_v3/t`, JSON.stringify({ id: 'qos2' }), { qos: 2 });
    assert.equal(await closed, true, 'a QoS 2 request closes the connection');
    // Reconnecting does not reset the minute (the limit is the agent's, not its session's).
    const again = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    const refused = await (await tokenClient(again, tenant, issued.clientId)).ask({ id: 'after-reconnect' });
    assert.deepEqual([refused.id, refused.error?.code, refused.data], ['after-reconnect', 'agentToken.rateLimited', undefined]);
    const audit = await server.api(tenant, '/auditEvents?action=agentToken.issued');
    assert.equal(audit.body.auditEvents.length, 1, 'only the first hostile id got a token');
  });

  test('another agent\'s request topic is refused by the topic rules (connection closed); a tenant application cannot ask either, nor forge an answer', async () => {
    const tenant = newTenant('ao');
    const [one, two] = [await issue(tenant, 'pump-3'), await issue(tenant, 'pump-4')];
    const agent = resources.client(await connectAgent(server, credentialsOf(one), one.clientId));
    const victim = resources.client(await connectAgent(server, credentialsOf(two), two.clientId));
    const victimLog = new MessageLog(victim);
    assert.deepEqual(await subackCodes(victim, { [`tc/${tenant}/${two.clientId}/i/agm_v3/tr`]: { qos: 1 } }), [1]);
    const closed = new Promise<void>((resolve) => agent.once('close', () => resolve()));
    agent.publish(`tc/${tenant}/${two.clientId}/o/agm_v3/t`, JSON.stringify({ id: 'steal' }), { qos: 1 });
    await closed;

    const app = resources.client(await connectApplication(server, tenant));
    const appClosed = new Promise<void>((resolve) => app.once('close', () => resolve()));
    app.publish(`tc/${tenant}/${two.clientId}/o/agm_v3/t`, JSON.stringify({ id: 'app' }), { qos: 1 });
    await appClosed;
    // Nor can an mcmqtt.admin application forge an answer (security review of decision 0033).
    const forger = resources.client(await connectApplication(server, tenant, { scopes: ['mcmqtt.admin'] }));
    const forgerClosed = new Promise<void>((resolve) => forger.once('close', () => resolve()));
    forger.publish(`tc/${tenant}/${two.clientId}/i/agm_v3/tr`, JSON.stringify({ id: 'own', data: { access_token: 'forged' } }), { qos: 1 });
    await forgerClosed;
    // The victim's own request is still granted: neither attempt took its minute.
    const own = await tokenClient(victim, tenant, two.clientId);
    const answer = await own.ask({ id: 'own' });
    assert.equal(answer.error, undefined, JSON.stringify(answer));
    assert.deepEqual(victimLog.on(`tc/${tenant}/${two.clientId}/i/agm_v3/tr`).length, 1, 'no answer to the others, no forged one');
  });

  test('the agent token opens no REST API (401 auth.agentTokenRefused) and is no tenant application password (CONNACK 4)', async () => {
    const tenant = newTenant('ar');
    const issued = await issue(tenant, 'pump-5');
    const agent = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    const answer = await (await tokenClient(agent, tenant, issued.clientId)).ask({ id: 'r' });
    const token = answer.data.access_token as string;
    assert.equal(decodeJwt(token).ten, tenant);
    assert.equal(decodeProtectedHeader(token).typ, 'trustgate-agent+jwt');
    const paths = ['/caCertificates', '/agents', '/agentCertificates', '/auditEvents', '/bans', `/agents/${issued.agentId ?? 'x'}`];
    for (const [method, path] of [...paths.map((p) => ['GET', p]), ['POST', '/agentCertificates'], ['DELETE', `/agentCertificates/${issued.id}`]] as const) {
      const response = await fetch(`${server.apiUrl}${path}`, {
        method, headers: { authorization: `Bearer ${token}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
        ...(method === 'POST' ? { body: JSON.stringify({ name: 'x' }) } : {}),
      });
      const body = await response.json() as any;
      assert.equal(response.status, 401, `${method} ${path}`);
      assert.equal(body.errors?.[0]?.code ?? body.code, 'auth.agentTokenRefused', `${method} ${path}: ${JSON.stringify(body)}`);
    }
    // Commanding (another engineer's routes) go through the same verifier: whatever path, never accepted.
    const commanding = await fetch(`${server.url}/api/commanding/v3/deliveryJobs`, { headers: { authorization: `Bearer ${token}` } });
    assert.ok(commanding.status === 401 || commanding.status === 404, String(commanding.status));
    assert.equal((await server.api(tenant, '/agentCertificates')).body.length, 1, 'nothing deleted');

    const before = await refusalCounts(server);
    const code = await connectClient(brokerUrl(server), {
      ca: server.brokerRootCaPem, clientId: `${tenant}_app-agent-token`, username: tenant, password: token, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5_000,
    }, 'an application with an agent token').then((client) => { resources.client(client); return 0; }, (error: { code?: number }) => error.code);
    assert.equal(code, 4);
    await waitUntil(async () => ((await refusalCounts(server)).get('auth.agentTokenRefused') ?? 0) === (before.get('auth.agentTokenRefused') ?? 0) + 1,
      5_000, 'the refusal counted as auth.agentTokenRefused');

    // An external identity provider setting that trusts exactly the agent tokens (trustgate's own
    // JWKS, their issuer and audience): the token would verify, and is still refused.
    const idpServer = await startTestServer({
      TRUSTGATE_JWKS_URL: `${server.url}/.well-known/jwks.json`, TRUSTGATE_JWT_ISSUER: 'urn:trustgate:agent-token-issuer', TRUSTGATE_JWT_AUDIENCE: 'urn:trustgate:agent',
    });
    resources.add(() => idpServer.close());
    await jwtVerify(token, createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`)), { issuer: 'urn:trustgate:agent-token-issuer', audience: 'urn:trustgate:agent' });
    const viaIdp = await fetch(`${idpServer.apiUrl}/agents`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(viaIdp.status, 401);
    assert.equal(((await viaIdp.json()) as any).errors[0].code, 'auth.agentTokenRefused');
    const idpCode = await connectClient(brokerUrl(idpServer), {
      ca: idpServer.brokerRootCaPem, clientId: `${tenant}_app-via-idp`, username: tenant, password: token, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5_000,
    }, 'an application with an agent token (IdP mode)').then((client) => { resources.client(client); return 0; }, (error: { code?: number }) => error.code);
    assert.equal(idpCode, 4);
  });

  test('a disabled agent (or one whose certificate is revoked) has no session to ask on: closed at once, refused at reconnect (CONNACK 5), no token', async () => {
    const tenant = newTenant('ad');
    for (const how of ['disable', 'revoke'] as const) {
      const issued = await issue(tenant, `pump-${how}`);
      const agent = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
      const record = await waitForAgent(server, tenant, issued.clientId, (a) => a.online === true);
      const closed = closesWithin(agent, 5_000);
      const change = how === 'disable'
        ? await server.api(tenant, `/agents/${record.id}`, { method: 'PATCH', body: { enabled: false } })
        : await server.api(tenant, `/agentCertificates/${issued.id}`, { method: 'DELETE' });
      assert.ok(change.status === 200 || change.status === 204, JSON.stringify(change.body));
      assert.equal(await closed, true, `${how}: the session is closed`);
      assert.equal(await refusalCodeOf(connectAgent(server, credentialsOf(issued), issued.clientId, { reconnectPeriod: 0 }), resources), 5);
    }
    const audit = await server.api(tenant, '/auditEvents?action=agentToken.issued');
    assert.deepEqual(audit.body.auditEvents, [], 'no token issued');
  });
});
