import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { assertError, newTenant, rawRequest } from '../support/api-helpers.ts';
import { randomUUID } from 'node:crypto';
import { connectAgent, endClient, issueAgent, MessageLog, registerVerifiedCa, Resources, subackCodes } from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { waitUntil } from '../support/wait-until.ts';
import { startWebhookReceiver, verifyWebhookSignature, type WebhookReceiver } from '../support/webhook-receiver.ts';

// Issue 19 part 3 (docs/webhooks.md, decision 0035): webhooks registered per tenant, events sent
// signed from the outbox, retried, never after a 2xx, never redirected, never to another tenant;
// every bad registration a specific 4xx.

const SECRET = 'a-secret-of-24-characters';
const FAST = { TRUSTGATE_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', TRUSTGATE_WEBHOOK_ALLOW_HTTP: 'true', TRUSTGATE_WEBHOOK_POLL_MS: '50', TRUSTGATE_WEBHOOK_RETRY_BASE_MS: '100' };

const deliveriesOf = async (server: TestServer, tenant: string, webhookId: string): Promise<any[]> => {
  const answer = await server.api(tenant, `/webhooks/${webhookId}/deliveries`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.deliveries;
};

for (const dialect of testDialects) describeOn(dialect)(`webhooks on ${dialect}`, { timeout: 120_000 }, () => {
  let server: TestServer;
  let receiver: WebhookReceiver;
  const resources = new Resources();
  before(async () => {
    receiver = await startWebhookReceiver();
    resources.add(() => receiver.close());
    server = await startTestServer(FAST, { dialect });
    resources.add(() => server.close());
  });
  after(() => resources.closeAll());

  const register = async (tenant: string, path: string, events: string[] = ['*']): Promise<string> => {
    const answer = await server.api(tenant, '/webhooks', { body: { url: receiver.url(path), events, secret: SECRET } });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.equal(JSON.stringify(answer.body).includes(SECRET), false, 'the secret is never answered');
    return answer.body.id;
  };

  it('bad registrations: each a specific 4xx, nothing stored', async () => {
    const tenant = newTenant('wh');
    const cases: [unknown, number, string][] = [
      [{ url: 'http://example.com/hook', events: ['*'], secret: SECRET }, 400, 'webhook.hostNotAllowed'],
      [{ url: 'http://localhost:8080/hook', events: ['*'], secret: SECRET }, 400, 'webhook.hostNotAllowed'],
      [{ url: 'http://169.254.169.254/latest/meta-data', events: ['*'], secret: SECRET }, 400, 'webhook.hostNotAllowed'],
      [{ url: 'http://[::1]:8080/hook', events: ['*'], secret: SECRET }, 400, 'webhook.hostNotAllowed'],
      [{ url: 'http://user:pw@127.0.0.1/hook', events: ['*'], secret: SECRET }, 400, 'webhook.urlInvalid'],
      [{ url: 'http://127.0.0.1/hook#x', events: ['*'], secret: SECRET }, 400, 'webhook.urlInvalid'],
      [{ url: 'ftp://127.0.0.1/hook', events: ['*'], secret: SECRET }, 400, 'webhook.urlInvalid'],
      [{ url: 'file:///etc/passwd', events: ['*'], secret: SECRET }, 400, 'webhook.urlInvalid'],
      [{ url: `http://127.0.0.1/${'a'.repeat(2100)}`, events: ['*'], secret: SECRET }, 400, 'webhook.urlInvalid'],
      [{ url: 'not a url', events: ['*'], secret: SECRET }, 400, 'webhook.urlInvalid'],
      [{ url: receiver.url(), events: ['agent.exploded'], secret: SECRET }, 400, 'webhook.eventsInvalid'],
      [{ url: receiver.url(), events: [], secret: SECRET }, 400, 'webhook.eventsInvalid'],
      [{ url: receiver.url(), events: ['*', '*'], secret: SECRET }, 400, 'webhook.eventsInvalid'],
      [{ url: receiver.url(), events: ['*'], secret: 'short' }, 400, 'webhook.secretInvalid'],
      [{ url: receiver.url(), events: ['*'], secret: 'x'.repeat(257) }, 400, 'webhook.secretInvalid'],
      [{ url: receiver.url(), events: ['*'] }, 400, 'request.invalid'],
      [{ url: receiver.url(), events: ['*'], secret: SECRET, extra: 1 }, 400, 'request.invalid'],
    ];
    for (const [body, status, code] of cases) {
      const answer = await server.api(tenant, '/webhooks', { body });
      assertError(answer as any, status, code);
    }
    assert.deepEqual((await server.api(tenant, '/webhooks')).body, []);
  });

  it('security review: hostile input on every route is a specific 4xx, never a 5xx, and changes nothing', async () => {
    const tenant = newTenant('wh');
    const id = await register(tenant, '/hostile');
    const before = JSON.stringify((await server.api(tenant, '/webhooks')).body);
    const NUL = '\u0000';
    const hostileIds = ['%00', 'a%00b', `${'a'.repeat(23)}%00`, '%E2%80%AE', '..%2F..%2Fetc', 'x'.repeat(2000), `${id.toUpperCase()}`, `${id}%20`];
    const cases: [string, string, { body?: string; contentType?: string | null }, number, string | undefined][] = [
      ['POST', '/webhooks', { body: '{"url":' }, 400, undefined],
      ['POST', '/webhooks', { body: 'null' }, 400, 'request.invalid'],
      ['POST', '/webhooks', { body: '[]' }, 400, 'request.invalid'],
      ['POST', '/webhooks', { body: JSON.stringify({ url: receiver.url(), events: ['*'], secret: SECRET }), contentType: 'text/plain' }, 415, undefined],
      ['POST', '/webhooks', { body: JSON.stringify({ url: receiver.url(), events: '*', secret: SECRET }) }, 400, 'request.invalid'],
      ['POST', '/webhooks', { body: JSON.stringify({ url: receiver.url(), events: Array.from({ length: 33 }, () => '*'), secret: SECRET }) }, 400, 'request.invalid'],
      ['POST', '/webhooks', { body: JSON.stringify({ url: receiver.url(), events: [`agent.connected${NUL}`], secret: SECRET }) }, 400, 'webhook.eventsInvalid'],
      ['POST', '/webhooks', { body: JSON.stringify({ url: `${receiver.url()}${NUL}`, events: ['*'], secret: SECRET }) }, 201, undefined], // stored percent-encoded
      ['POST', '/webhooks', { body: JSON.stringify({ url: receiver.url(), events: ['*'], secret: 12345678901234567 }) }, 400, 'request.invalid'],
      ['POST', '/webhooks', { body: JSON.stringify({ url: receiver.url(), events: ['*'], secret: `${NUL}`.repeat(20) }) }, 201, undefined],
      ['POST', '/webhooks', { body: JSON.stringify({ url: receiver.url(), events: ['*'], secret: '\ud800'.repeat(20) }) }, 201, undefined],
      ['POST', '/webhooks', { body: JSON.stringify({ url: receiver.url(), events: ['*'], secret: SECRET, __proto__: { admin: true } }) }, 201, undefined],
      ['GET', `/webhooks/${id}/deliveries?limit=0`, {}, 400, 'webhook.limitInvalid'],
      ['GET', `/webhooks/${id}/deliveries?limit=101`, {}, 400, 'webhook.limitInvalid'],
      ['GET', `/webhooks/${id}/deliveries?limit=-1`, {}, 400, 'webhook.limitInvalid'],
      ['GET', `/webhooks/${id}/deliveries?limit=1e2`, {}, 400, 'webhook.limitInvalid'],
      ['GET', `/webhooks/${id}/deliveries?limit=1&limit=2`, {}, 400, undefined],
      ['GET', `/webhooks/${id}/deliveries?cursor=abc`, {}, 400, 'webhook.cursorInvalid'],
      ['GET', `/webhooks/${id}/deliveries?cursor=999999999999999.${'f'.repeat(24)}`, {}, 200, undefined],
      ['GET', `/webhooks/${id}/deliveries?cursor=1.${'0'.repeat(23)}%00`, {}, 400, 'webhook.cursorInvalid'],
      ['GET', `/webhooks/${id}/deliveries?cursor=${'9'.repeat(200)}`, {}, 400, undefined],
      ['GET', `/webhooks/${id}/deliveries?other=1`, {}, 400, 'request.invalid'],
      ['GET', '/webhooks/%FF', {}, 400, 'request.invalid'],
      ...hostileIds.flatMap((hostile) => [
        ['GET', `/webhooks/${hostile}`, {}, 404, undefined],
        ['DELETE', `/webhooks/${hostile}`, {}, 404, undefined],
        ['GET', `/webhooks/${hostile}/deliveries`, {}, 404, undefined],
      ] as [string, string, object, number, undefined][]),
    ];
    const fivexx: string[] = [];
    for (const [method, path, init, status, code] of cases) {
      const answer = await rawRequest(server, path, { tenant, method, ...init });
      if (answer.status >= 500) fivexx.push(`${method} ${path.slice(0, 60)} ${JSON.stringify(init).slice(0, 80)} → ${answer.status} ${answer.text.slice(0, 200)}`);
      else if (code) assertError(answer as any, status, code);
      else assert.equal(answer.status, status, `${method} ${path.slice(0, 60)} ${JSON.stringify(init).slice(0, 80)} → ${answer.status} ${answer.text.slice(0, 200)}`);
      if (answer.status === 201) {
        assert.equal(answer.text.includes(SECRET), false);
        assert.equal(Object.hasOwn(answer.body, 'admin'), false);
        assert.equal((await server.api(tenant, `/webhooks/${answer.body.id}`, { method: 'DELETE' })).status, 204);
      }
    }
    assert.deepEqual(fivexx, []);
    assert.equal(JSON.stringify((await server.api(tenant, '/webhooks')).body), before, 'nothing changed');
    assert.equal((await server.api(tenant, `/webhooks/${id}`)).status, 200);
  });

  it('a cap per tenant (409); another tenant\'s webhook is unknown (404) and stays; a read token cannot create', async () => {
    const tenant = newTenant('wh');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await register(tenant, `/cap-${i}`));
    assertError(await server.api(tenant, '/webhooks', { body: { url: receiver.url(), events: ['*'], secret: SECRET } }) as any, 409, 'webhook.tooMany');
    const stranger = newTenant('wh');
    for (const [method, path] of [['GET', `/webhooks/${ids[0]}`], ['DELETE', `/webhooks/${ids[0]}`], ['GET', `/webhooks/${ids[0]}/deliveries`]] as const) {
      assertError(await server.api(stranger, path, { method }) as any, 404, 'webhook.notFound');
    }
    assert.deepEqual((await server.api(stranger, '/webhooks')).body, []);
    assert.equal((await server.api(tenant, `/webhooks/${ids[0]}`)).status, 200);
    const readToken = await server.token(tenant, { scopes: ['mcmqtt.read'] });
    const refused = await fetch(`${server.apiUrl}/webhooks`, {
      method: 'POST', headers: { authorization: `Bearer ${readToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: receiver.url(), events: ['*'], secret: SECRET }),
    });
    assert.equal(refused.status, 403);
    assert.equal((await server.api(tenant, `/webhooks/${ids[0]}`, { method: 'DELETE' })).status, 204);
    assertError(await server.api(tenant, `/webhooks/${ids[0]}`) as any, 404, 'webhook.notFound');
    assert.equal((await server.api(tenant, '/webhooks')).body.length, 9);
  });

  it('a signed agent.onboarded event within a second of the agent\'s first connect; another tenant\'s hook hears nothing of it', async () => {
    const tenant = newTenant('wh');
    const other = newTenant('wh');
    await register(tenant, `/${tenant}`, ['agent.onboarded', 'agent.connected', 'agent.disconnected']);
    await register(other, `/${other}`);
    const { ca } = await registerVerifiedCa(server, tenant);
    const clientId = `${tenant}_pump-1`;
    const connectedAt = Date.now();
    const agent = resources.client(await connectAgent(server, await issueAgent(ca, 'pump-1'), clientId));
    const onboarded = () => receiver.requests.find((request) => request.path === `/${tenant}` && request.json?.type === 'agent.onboarded');
    await waitUntil(() => onboarded() !== undefined, 10_000, 'agent.onboarded arrives');
    const event = onboarded()!;
    assert.ok(event.at - connectedAt < 1000, `received ${event.at - connectedAt} ms after the connect`);
    assert.equal(event.headers['content-type'], 'application/json');
    assert.ok(verifyWebhookSignature(event.headers['trustgate-signature'] as string, event.body, SECRET), 'the signature verifies');
    assert.equal(verifyWebhookSignature(event.headers['trustgate-signature'] as string, event.body.replace('pump-1', 'pump-2'), SECRET), false);
    assert.equal(event.headers['trustgate-event-id'], event.json.id);
    assert.deepEqual(Object.keys(event.json).sort(), ['data', 'id', 'tenant', 'time', 'type']);
    assert.equal(event.json.tenant, tenant);
    assert.equal(event.json.data.clientId, clientId);
    await waitUntil(() => receiver.requests.some((request) => request.path === `/${tenant}` && request.json?.type === 'agent.connected'), 10_000, 'agent.connected arrives');
    await endClient(agent);
    await waitUntil(() => receiver.requests.some((request) => request.path === `/${tenant}` && request.json?.type === 'agent.disconnected' && request.json.data.clientId === clientId), 10_000, 'agent.disconnected arrives');
    // The caCertificate.verified event is not subscribed: never sent to this hook.
    assert.equal(receiver.requests.some((request) => request.path === `/${tenant}` && request.json?.type === 'caCertificate.verified'), false);
    // The other tenant's hook: none of this tenant's events.
    assert.equal(receiver.requests.some((request) => request.path === `/${other}` && request.json?.tenant !== other), false);
    assert.equal(receiver.requests.some((request) => request.path === `/${other}`), false);
  });

  it('command.updated: a delivery job\'s command moving PENDING → DELIVERED → EXECUTED reaches the hook signed, in order; another tenant\'s hook hears nothing', async () => {
    const tenant = newTenant('wh');
    const other = newTenant('wh');
    const path = `/${tenant}-commands`;
    await register(tenant, path, ['command.updated']);
    await register(other, `/${other}-commands`, ['command.updated']);
    const { ca } = await registerVerifiedCa(server, tenant);
    const clientId = `${tenant}_pump`;
    const topic = `tc/${tenant}/${clientId}/i/cmd_v3/c`;
    let log!: MessageLog;
    const agent = resources.client(await connectAgent(server, await issueAgent(ca, 'pump'), clientId, { clean: false }, (c) => { log = new MessageLog(c); }));
    assert.deepEqual(await subackCodes(agent, { [topic]: { qos: 1 } }), [1]);
    const token = await server.token(tenant);
    const created = await fetch(`${server.url}/api/commanding/v3/deliveryJobs`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'start', clientIds: [clientId], data: { execute_command: 'START' } }),
    });
    assert.equal(created.status, 201);
    const job = await created.json() as { id: string };
    const command = JSON.parse((await log.next(topic, 5_000)).payload.toString());
    assert.equal(command.data.jobId, job.id);
    const events = () => receiver.requests.filter((request) => request.path === path);
    await waitUntil(() => events().some((request) => request.json?.data.status === 'DELIVERED'), 10_000, 'command.updated DELIVERED arrives');
    // As MindConnect's sample agent answers: QoS 0 on o/cmd_v3/u, a new id, the command's id as requestId.
    await agent.publishAsync(`tc/${tenant}/${clientId}/o/cmd_v3/u`, JSON.stringify({
      id: randomUUID(), requestId: command.id, data: { timestamp: new Date().toISOString(), jobId: job.id, status: 'EXECUTED', response: { ok: true } },
    }), { qos: 0 });
    await waitUntil(() => events().some((request) => request.json?.data.status === 'EXECUTED'), 10_000, 'command.updated EXECUTED arrives');
    const sent = events();
    assert.deepEqual(sent.map((request) => request.json.data.status), ['DELIVERED', 'EXECUTED']);
    for (const request of sent) {
      assert.ok(verifyWebhookSignature(request.headers['trustgate-signature'] as string, request.body, SECRET), 'the signature verifies');
      assert.equal(request.json.type, 'command.updated');
      assert.equal(request.json.tenant, tenant);
      assert.equal(request.headers['trustgate-event-id'], request.json.id);
      assert.deepEqual(request.json.data, { jobId: job.id, commandId: command.id, clientId, status: request.json.data.status });
    }
    assert.equal(receiver.requests.some((request) => request.path === `/${other}-commands`), false);
    await endClient(agent);
  });

  it('a receiver down for a while: retried, then delivered exactly once after its 2xx', async () => {
    const tenant = newTenant('wh');
    const path = `/${tenant}`;
    const id = await register(tenant, path, ['caCertificate.verified']);
    let refusals = 3;
    receiver.respond = (request, response) => {
      if (request.url === path && refusals > 0) {
        refusals -= 1;
        response.writeHead(503).end('down for maintenance');
      } else response.writeHead(204).end();
    };
    const { id: caId } = await registerVerifiedCa(server, tenant);
    await waitUntil(async () => (await deliveriesOf(server, tenant, id))[0]?.status === 'delivered', 20_000, 'the delivery succeeds');
    const [delivery] = await deliveriesOf(server, tenant, id);
    assert.equal(delivery.attempts, 4);
    assert.equal(delivery.lastResponseStatus, 204);
    const sent = receiver.requests.filter((request) => request.path === path);
    assert.deepEqual(sent.map((request) => request.answered), [503, 503, 503, 204]);
    assert.ok(sent.every((request) => request.json.data.caCertificateId === caId && request.json.id === sent[0]!.json.id));
    // A later event goes through after it; the acknowledged one is never sent again.
    await registerVerifiedCa(server, tenant);
    await waitUntil(() => receiver.requests.filter((request) => request.path === path).length === 5, 10_000, 'the second event arrives');
    assert.equal(receiver.requests.filter((request) => request.path === path && request.json.id === sent[0]!.json.id).length, 4);
  });

  it('security review: a receiver answering NUL bytes and broken UTF-8 is recorded (delivered once, not re-sent every lease)', async () => {
    const tenant = newTenant('wh');
    const path = `/${tenant}`;
    const id = await register(tenant, path, ['caCertificate.verified']);
    let refusals = 1;
    receiver.respond = (request, response) => {
      if (request.url !== path) return void response.writeHead(200).end();
      const hostile = Buffer.concat([Buffer.from('nul\u0000 and broken utf-8 '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(`${'é'.repeat(200)}\u0000`)]);
      if (refusals-- > 0) response.writeHead(500).end(hostile);
      else response.writeHead(200).end(hostile);
    };
    await registerVerifiedCa(server, tenant);
    await waitUntil(async () => (await deliveriesOf(server, tenant, id))[0]?.status === 'delivered', 10_000, 'delivered despite the hostile answers');
    const [delivery] = await deliveriesOf(server, tenant, id);
    assert.equal(delivery.attempts, 2);
    assert.equal(delivery.lastResponseStatus, 200);
    assert.ok(delivery.lastResponseBody.startsWith('nul'), delivery.lastResponseBody);
    assert.ok(Buffer.byteLength(delivery.lastResponseBody) <= 1024);
    assert.equal(receiver.requests.filter((request) => request.path === path).length, 2);
  });

  it('security review: an attempt without an answer is listed by its kind, never with the address and port it tried', async () => {
    const tenant = newTenant('wh');
    // A receiver that hangs up on every connection (a closed port could be taken by another test meanwhile).
    const hangUp = createServer();
    hangUp.on('connection', (socket) => socket.destroy());
    await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
    resources.add(() => new Promise<void>((resolve) => hangUp.close(() => resolve())));
    const port = (hangUp.address() as AddressInfo).port;
    const created = await server.api(tenant, '/webhooks', { body: { url: `http://127.0.0.1:${port}/in`, events: ['caCertificate.verified'], secret: SECRET } });
    assert.equal(created.status, 201);
    await registerVerifiedCa(server, tenant);
    // An attempt is counted when it is claimed; its outcome is recorded when it ends.
    await waitUntil(async () => typeof (await deliveriesOf(server, tenant, created.body.id))[0]?.lastError === 'string', 10_000, 'an attempt with its outcome');
    const [delivery] = await deliveriesOf(server, tenant, created.body.id);
    // Which one depends on when the reset meets the request (the body may still be on its way).
    assert.ok(['connection reset by the receiver', 'connection closed by the receiver while sending', 'connection closed before an answer'].includes(delivery.lastError),
      String(delivery.lastError));
    assert.equal(/127\.0\.0\.1|:\d+/.test(`${delivery.lastError} ${delivery.lastResponseBody}`), false);
  });

  it('a redirect is not followed: a failed attempt, retried', async () => {
    const tenant = newTenant('wh');
    const path = `/${tenant}`;
    const id = await register(tenant, path, ['caCertificate.verified']);
    receiver.respond = (request, response) => {
      if (request.url === path) response.writeHead(302, { location: `${receiver.url(`${path}/elsewhere`)}` }).end();
      else response.writeHead(200).end();
    };
    await registerVerifiedCa(server, tenant);
    await waitUntil(async () => (await deliveriesOf(server, tenant, id))[0]?.attempts >= 2, 10_000, 'two attempts');
    const [delivery] = await deliveriesOf(server, tenant, id);
    assert.equal(delivery.status, 'pending');
    assert.equal(delivery.lastResponseStatus, 302);
    assert.equal(delivery.lastError, 'redirect not followed');
    assert.equal(receiver.requests.some((request) => request.path.endsWith('/elsewhere')), false);
  });
});

describe('webhooks across a restart', { timeout: 120_000 }, () => {
  const resources = new Resources();
  after(() => resources.closeAll());

  it('a due delivery survives a restart and is delivered by the next start on the same data dir', async () => {
    const receiver = await startWebhookReceiver();
    resources.add(() => receiver.close());
    receiver.respond = (_request, response) => response.writeHead(500).end();
    const dataDir = await resources.tempDir('webhooks');
    const first = await startTestServer({ ...FAST, TRUSTGATE_DATA_DIR: dataDir });
    const tenant = newTenant('wh');
    const created = await first.api(tenant, '/webhooks', { body: { url: receiver.url(), events: ['caCertificate.verified'], secret: SECRET } });
    assert.equal(created.status, 201);
    await registerVerifiedCa(first, tenant);
    await waitUntil(() => receiver.requests.length >= 1, 10_000, 'the first attempt');
    await first.close();
    const failedAttempts = receiver.requests.length;
    receiver.respond = (_request, response) => response.writeHead(200).end();
    // The row stays in the outbox, pending: the next start on the same data dir sends it.
    const second = await startTestServer({ ...FAST, TRUSTGATE_DATA_DIR: dataDir });
    resources.add(() => second.close());
    const deliveries = async () => (await second.api(tenant, `/webhooks/${created.body.id}/deliveries`)).body.deliveries;
    await waitUntil(async () => (await deliveries())[0].status === 'delivered', 10_000, 'delivered after the restart');
    assert.equal(receiver.requests.filter((request) => request.answered === 200).length, 1);
    assert.equal((await deliveries())[0].attempts, failedAttempts + 1);
  });
});
