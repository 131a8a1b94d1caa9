import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { assertError, newTenant } from '../support/api-helpers.ts';
import { agentCertificate, ClientPool, connectOk, verifiedCa } from '../support/broker-refusal-helpers.ts';
import { openEventStream, type EventStreamClient, type StreamEvent } from '../support/event-stream-client.ts';
import type { TestCertificate } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';

// GET /agents/events, the console's live agent table, against a real server with real MQTT
// agents: what each event carries, that a tenant sees only its own agents, who may open a stream,
// how long it lives, and how many there may be.

const EVENT_MS = 6_000;

describe('GET /agents/events', () => {
  let server: TestServer;
  const pool = new ClientPool();
  const streams: EventStreamClient[] = [];
  const tenantA = newTenant('ea');
  const tenantB = newTenant('eb');
  let caA: { ca: TestCertificate; id: string };
  let caB: { ca: TestCertificate; id: string };

  const open = async (tenant: string, token?: string): Promise<EventStreamClient> => {
    const stream = await openEventStream(`${server.apiUrl}/agents/events`, token ?? await server.token(tenant));
    streams.push(stream);
    return stream;
  };
  const isAgent = (clientId: string, match: (agent: any) => boolean = () => true) =>
    (event: StreamEvent) => event.event === 'agent' && event.data.clientId === clientId && match(event.data);

  before(async () => {
    server = await startTestServer();
    caA = await verifiedCa(server, tenantA, 'CN=Agent events CA A');
    caB = await verifiedCa(server, tenantB, 'CN=Agent events CA B');
    // One agent known before any stream opens: the first event must list it.
    const early = await connectOk(server, pool, `${tenantA}_early`, { agent: await agentCertificate(caA.ca, 'early') });
    await early.endAsync();
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await pool.closeAll();
    await server?.close();
  });

  test('the first event is the list GET /agents answers; then connect, disconnect, disable and delete each arrive as an event', async () => {
    await waitUntil(async () => (await server.api(tenantA, '/agents')).body.every((agent: any) => !agent.online), 5_000, 'the early agent is recorded offline');
    const stream = await open(tenantA);
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get('content-type'), 'text/event-stream');
    assert.equal(stream.headers.get('cache-control'), 'no-store');
    assert.equal(stream.headers.get('x-content-type-options'), 'nosniff');
    assert.match(stream.headers.get('x-request-id') ?? '', /./);
    const first = await stream.next(() => true, EVENT_MS, 'the first event');
    assert.equal(first.event, 'agents');
    assert.deepEqual(first.data, (await server.api(tenantA, '/agents')).body);
    assert.deepEqual(first.data.map((agent: any) => agent.clientId), [`${tenantA}_early`]);

    const clientId = `${tenantA}_live`;
    const client: MqttClient = await connectOk(server, pool, clientId, { agent: await agentCertificate(caA.ca, 'live') });
    const online = await stream.next(isAgent(clientId, (agent) => agent.online === true), EVENT_MS, 'the new agent online');
    const agentId = online.data.id;
    // Exactly GET /agents/{id}'s resource (the stored state has not moved since: the agent is idle).
    assert.deepEqual(online.data, (await server.api(tenantA, `/agents/${agentId}`)).body);

    let from = stream.events.length;
    await client.endAsync();
    const offline = await stream.next(isAgent(clientId, (agent) => agent.online === false), EVENT_MS, 'the agent offline', from);
    assert.equal(offline.data.id, agentId);

    from = stream.events.length;
    const patched = await server.api(tenantA, `/agents/${agentId}`, { method: 'PATCH', body: { enabled: false } });
    assert.equal(patched.status, 200);
    const disabled = await stream.next(isAgent(clientId, (agent) => agent.enabled === false), EVENT_MS, 'the agent disabled', from);
    assert.deepEqual(disabled.data, patched.body);

    from = stream.events.length;
    assert.equal((await server.api(tenantA, `/agents/${agentId}`, { method: 'DELETE' })).status, 204);
    const deleted = await stream.next((event) => event.event === 'agentDeleted', EVENT_MS, 'the agent deleted', from);
    assert.deepEqual(deleted.data, { id: agentId });
  });

  test('another tenant\'s stream sees nothing of it; its own agent\'s event arrives', async () => {
    const streamA = await open(tenantA);
    const streamB = await open(tenantB);
    await streamA.next((event) => event.event === 'agents', EVENT_MS, 'A\'s first event');
    const firstB = await streamB.next((event) => event.event === 'agents', EVENT_MS, 'B\'s first event');
    assert.deepEqual(firstB.data, []);
    await connectOk(server, pool, `${tenantA}_secret`, { agent: await agentCertificate(caA.ca, 'secret') });
    await streamA.next(isAgent(`${tenantA}_secret`), EVENT_MS, 'A\'s agent on A\'s stream');
    // Positive control: B's own agent, connected after A's, reaches B's stream.
    await connectOk(server, pool, `${tenantB}_own`, { agent: await agentCertificate(caB.ca, 'own') });
    await streamB.next(isAgent(`${tenantB}_own`), EVENT_MS, 'B\'s agent on B\'s stream');
    const leaked = streamB.events.filter((event) => JSON.stringify(event.data ?? '').includes(tenantA));
    assert.deepEqual(leaked, [], 'no event of tenant A on B\'s stream');
  });

  test('a read token may open it; no token is 401 and a token without a scope 403, with the error body', async () => {
    const read = await open(tenantA, await server.token(tenantA, { scopes: ['mcmqtt.read'] }));
    assert.equal(read.status, 200);
    await read.next((event) => event.event === 'agents', EVENT_MS, 'the first event with a read token');

    const none = await openEventStream(`${server.apiUrl}/agents/events`, undefined);
    assertError(none, 401, 'auth.tokenMissing');
    assert.match(none.headers.get('content-type') ?? '', /^application\/json/);

    const scopeless = await openEventStream(`${server.apiUrl}/agents/events`, await server.token(tenantA, { scopes: ['other'] }));
    assertError(scopeless, 403, 'auth.scopeMissing');

    // No HEAD: it would hold a stream open whose events nobody can read.
    const head = await fetch(`${server.apiUrl}/agents/events`, { method: 'HEAD', headers: { authorization: `Bearer ${await server.token(tenantA)}` } });
    assert.equal(head.status, 404);
  });

  test('the stream ends when its token expires', async () => {
    const startedAt = performance.now();
    const stream = await open(tenantA, await server.token(tenantA, { ttlSeconds: 2 }));
    await stream.next((event) => event.event === 'agents', EVENT_MS, 'the first event');
    const end = await stream.next((event) => event.event === 'streamEnd', 6_000, 'the end of the stream at the token\'s expiry');
    assert.deepEqual(end.data, { reason: 'tokenExpired' });
    await stream.ended;
    // exp is whole seconds: the stream lives at most the 2 s granted (plus the second exp was rounded in).
    assert.ok(end.at - startedAt < 3_500, `ended ${Math.round(end.at - startedAt)} ms after it opened`);
  });

  test('at most 10 streams per tenant on a node: the 11th is 429 with the error body; closing one frees its place', async () => {
    const tenant = newTenant('ec');
    const opened: EventStreamClient[] = [];
    for (let i = 0; i < 10; i += 1) {
      const stream = await open(tenant);
      assert.equal(stream.status, 200, `stream ${i + 1}`);
      opened.push(stream);
    }
    const refused = await openEventStream(`${server.apiUrl}/agents/events`, await server.token(tenant));
    assertError(refused, 429, 'agent.streamTenantLimitReached');
    // Another tenant is not affected by this one's streams.
    assert.equal((await open(newTenant('ed'))).status, 200);

    opened[0]!.close();
    let again: EventStreamClient | undefined;
    await waitUntil(async () => {
      again?.close();
      again = await openEventStream(`${server.apiUrl}/agents/events`, await server.token(tenant));
      streams.push(again);
      return again.status === 200;
    }, 5_000, 'a stream opens again once one was closed');
  });
});

describe('GET /agents/events at shutdown', () => {
  test('open streams end at once when the server closes; the shutdown does not wait for them', async () => {
    const server = await startTestServer();
    let closed = false;
    try {
      const streams = await Promise.all([1, 2].map(async () => openEventStream(`${server.apiUrl}/agents/events`, await server.token('shutdown'))));
      for (const stream of streams) await stream.next((event) => event.event === 'agents', EVENT_MS, 'the first event');
      const startedAt = performance.now();
      await server.close();
      closed = true;
      const tookMs = performance.now() - startedAt;
      // The HTTP server's own grace for stalled connections is 3 s: well under it.
      assert.ok(tookMs < 2_500, `shutdown took ${Math.round(tookMs)} ms`);
      for (const stream of streams) {
        await stream.ended;
        assert.deepEqual(stream.events.find((event) => event.event === 'streamEnd')?.data, { reason: 'serverClosing' });
      }
    } finally {
      if (!closed) await server.close();
    }
  });
});
