import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertError, listOf, newTenant, uploadCa, uploadCaOk } from '../support/api-helpers.ts';
import { agentCertificate, ClientPool, connectOk, connectRefused, verifiedCa } from '../support/broker-refusal-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { TcpOutageProxy } from '../support/tcp-proxy.ts';
import { createTestDatabaseUrl, testPostgresBaseUrl, type TestDatabase } from '../support/test-databases.ts';
import { createCa } from '../support/test-pki.ts';
import { describeNeeding } from '../support/test-services.ts';

// PostgreSQL going away must not crash trustgate or answer 500: requests answer 503
// storage.unavailable (MQTT: CONNACK 3) while it is away, and work again once it is back. The
// shared test server cannot be stopped, so the app reaches it through a TCP proxy that the test
// cuts (connections reset, port closed: "connection refused") and restores.

describeNeeding('postgres')('PostgreSQL unreachable while trustgate runs (REST API and broker)', () => {
  let database: TestDatabase | undefined;
  let proxy: TcpOutageProxy;
  let server: TestServer | undefined;
  const pool = new ClientPool();
  const tenant = newTenant('outage');
  let stored: any;
  let agent: { certificatePem: string; privateKeyPem: string };

  before(async () => {
    database = await createTestDatabaseUrl('postgres');
    const url = new URL(database.url);
    const base = new URL(testPostgresBaseUrl);
    proxy = new TcpOutageProxy({ host: base.hostname, port: Number(base.port || 5432) });
    await proxy.start();
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    server = await startTestServer({ TRUSTGATE_DATABASE_URL: url.toString() });
    stored = await uploadCaOk(server, tenant, await createCa());
    const { ca } = await verifiedCa(server, tenant);
    agent = await agentCertificate(ca, 'pump-1');
  });
  after(async () => {
    await pool.closeAll();
    await proxy?.cut();
    await server?.close();
    await database?.drop();
  });

  test('while it is away: reads and writes answer 503 storage.unavailable, never 500, and change nothing', async () => {
    await proxy.cut();
    for (const answer of [
      await server!.api(tenant, '/caCertificates'),
      await server!.api(tenant, `/caCertificates/${stored.id}`),
      await uploadCa(server!, tenant, await createCa()),
      await server!.api(tenant, `/caCertificates/${stored.id}`, { method: 'DELETE' }),
      await server!.api(tenant, '/agents'),
    ]) {
      assertError(answer, 503, 'storage.unavailable', /database cannot be reached/);
      assert.doesNotMatch(JSON.stringify(answer.body), /ECONNREFUSED|127\.0\.0\.1|\d{4,5}\//, 'no internals in the body');
    }
  });

  test('while it is away: an agent\'s first connection is refused with CONNACK 3 (server unavailable)', async () => {
    assert.equal(await connectRefused(server!, `${tenant}_pump-1`, { agent }), 3);
  });

  test('once it is back: the next request works, nothing was changed meanwhile, and the agent connects', async () => {
    await proxy.start();
    const listed = await server!.api(tenant, '/caCertificates');
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.equal((await listOf(server!, tenant)).length, 2);
    assert.deepEqual((await server!.api(tenant, `/caCertificates/${stored.id}`)).body, stored);
    await connectOk(server!, pool, `${tenant}_pump-1`, { agent });
  });
});
