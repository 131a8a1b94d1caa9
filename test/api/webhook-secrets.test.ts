import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { registerVerifiedCa, Resources } from '../support/broker-helpers.ts';
import { captureLogs } from '../support/capture-logs.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { waitUntil } from '../support/wait-until.ts';
import { startWebhookReceiver, verifyWebhookSignature, type WebhookReceiver } from '../support/webhook-receiver.ts';

// Security review of webhooks (docs/webhooks.md, decision 0035): the secret is write-only. It is in
// no API answer (create, list, show, deliveries), no error, and no log line at trace level, through
// failed, refused, redirected and delivered attempts; each attempt signs exactly the raw bytes sent,
// with the attempt's own timestamp.

const SECRET = 'Sekr3t-of-the-review-0123456789';
const logs = captureLogs('trace');
const resources = new Resources();
let server: TestServer;
let receiver: WebhookReceiver;

before(async () => {
  receiver = await startWebhookReceiver();
  resources.add(() => receiver.close());
  server = await startTestServer({
    TRUSTGATE_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', TRUSTGATE_WEBHOOK_ALLOW_HTTP: 'true', TRUSTGATE_WEBHOOK_POLL_MS: '50', TRUSTGATE_WEBHOOK_RETRY_BASE_MS: '100',
  }, { logger: logs.logger });
  resources.add(() => server.close());
});
after(() => resources.closeAll());

it('the secret never leaves: not answered, not listed, not in deliveries or errors, not logged; the signature covers the exact bytes of each attempt', { timeout: 60_000 }, async () => {
  const tenant = newTenant('sec');
  const path = `/${tenant}`;
  let answers = [503, 302, 200];
  receiver.respond = (request, response) => {
    const status = request.url === path ? answers.shift() ?? 200 : 200;
    response.writeHead(status, status === 302 ? { location: receiver.url('/elsewhere') } : {}).end(`echo ${request.headers['trustgate-signature']}`);
  };
  const texts: string[] = [];
  const created = await server.api(tenant, '/webhooks', { body: { url: receiver.url(path), events: ['caCertificate.verified'], secret: SECRET } });
  assert.equal(created.status, 201);
  texts.push(JSON.stringify(created.body));
  // A bad registration echoing nothing of the secret either.
  const refused = await server.api(tenant, '/webhooks', { body: { url: 'http://evil.example/x', events: ['*'], secret: SECRET } });
  assert.equal(refused.status, 400);
  texts.push(JSON.stringify(refused.body));
  const tooLong = await server.api(tenant, '/webhooks', { body: { url: receiver.url(path), events: ['*'], secret: SECRET.repeat(9) } });
  assert.equal(tooLong.status, 400);
  texts.push(JSON.stringify(tooLong.body));
  await registerVerifiedCa(server, tenant);
  const deliveries = async () => (await server.api(tenant, `/webhooks/${created.body.id}/deliveries`)).body;
  await waitUntil(async () => (await deliveries()).deliveries[0]?.status === 'delivered', 20_000, 'delivered after a 503 and a 302');
  texts.push(JSON.stringify(await deliveries()), JSON.stringify((await server.api(tenant, '/webhooks')).body), JSON.stringify((await server.api(tenant, `/webhooks/${created.body.id}`)).body));
  const sent = receiver.requests.filter((request) => request.path === path);
  assert.equal(sent.length, 3);
  for (const request of sent) {
    assert.ok(verifyWebhookSignature(request.headers['trustgate-signature'] as string, request.body, SECRET));
    assert.equal(Number(request.headers['content-length']), Buffer.byteLength(request.body));
    assert.equal(JSON.stringify(request.headers).includes(SECRET), false);
  }
  assert.equal(new Set(sent.map((request) => request.body)).size, 1, 'every attempt sends the same bytes');
  for (const text of texts) assert.equal(text.includes(SECRET), false, text);
  const logged = logs.lines.map((line) => JSON.stringify(line));
  assert.ok(logged.length > 0);
  assert.deepEqual(logged.filter((line) => line.includes(SECRET) || line.includes(SECRET.slice(0, 12))), []);
});
