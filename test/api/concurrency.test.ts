import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { createTestDatabaseUrl, describeOn, testDialects, type TestDatabase } from '../support/test-databases.ts';
import { createCa } from '../support/test-pki.ts';
import { assertError, listOf, newTenant, proofFor, registrationCodeOf, uploadCa, uploadCaOk, verify } from '../support/api-helpers.ts';
import { describeNeeding } from '../support/test-services.ts';

// The per-tenant limit holds under concurrent requests, and a CA public key can be verified by one
// tenant only at a time (docs/architecture.md, invariants). Parallel requests over real HTTP against each dialect,
// and against two nodes sharing one PostgreSQL database.

const countBy = (statuses: number[]): Record<number, number> =>
  statuses.reduce<Record<number, number>>((counts, status) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

for (const dialect of testDialects) describeOn(dialect)(`concurrent requests (REST API) [${dialect}]`, () => {
  let server: TestServer;

  before(async () => { server = await startTestServer({}, { dialect }); });
  after(async () => { await server?.close(); });

  test('20 parallel uploads of 20 different CAs: exactly 2 x 201 and 18 x 409 caCertificate.limitReached; the list holds the 2', async () => {
    const tenant = newTenant('race');
    const cas = await Promise.all(Array.from({ length: 20 }, (_, i) => createCa({ subject: `CN=Race CA ${i}` })));
    const answers = await Promise.all(cas.map((ca, i) => uploadCa(server, tenant, ca, `race ${i}`)));
    assert.deepEqual(countBy(answers.map((answer) => answer.status)), { 201: 2, 409: 18 }, JSON.stringify(answers.filter((a) => a.status !== 201 && a.status !== 409).map((a) => a.body)));
    for (const answer of answers.filter((a) => a.status === 409)) assertError(answer, 409, 'caCertificate.limitReached');
    const created = answers.filter((answer) => answer.status === 201).map((answer) => answer.body);
    const list = await listOf(server, tenant);
    assert.equal(list.length, 2);
    assert.deepEqual(list.map((resource) => resource.id).sort(), created.map((resource) => resource.id).sort());
    assertError(await uploadCa(server, tenant, await createCa()), 409, 'caCertificate.limitReached');
  });

  test('20 parallel uploads of the same CA into an empty tenant: 1 x 201 and 19 x 409 caCertificate.duplicate', async () => {
    const tenant = newTenant('dup');
    const ca = await createCa();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => uploadCa(server, tenant, ca, `dup ${i}`)));
    assert.deepEqual(countBy(answers.map((answer) => answer.status)), { 201: 1, 409: 19 });
    for (const answer of answers.filter((a) => a.status === 409)) assertError(answer, 409, 'caCertificate.duplicate');
    assert.equal((await listOf(server, tenant)).length, 1);
  });

  test('20 parallel verifies of one CA with valid proofs: all 200, one consistent state', async () => {
    const tenant = newTenant('verify');
    const ca = await createCa();
    const resource = await uploadCaOk(server, tenant, ca);
    const code = await registrationCodeOf(server, tenant, resource.id);
    const proofs = await Promise.all(Array.from({ length: 20 }, () => proofFor(ca, code)));
    const answers = await Promise.all(proofs.map((proof) => verify(server, tenant, resource.id, proof.certificatePem)));
    assert.deepEqual(countBy(answers.map((answer) => answer.status)), { 200: 20 }, JSON.stringify(answers.find((a) => a.status !== 200)?.body));
    const stored = (await server.api(tenant, `/caCertificates/${resource.id}`)).body;
    assert.equal(stored.isVerified, true);
    for (const answer of answers) {
      assert.equal(answer.body.isVerified, true);
      assert.deepEqual(answer.body, stored, 'every answer shows the one stored state (one verifiedAt)');
    }
    if ('verifiedAt' in stored) assert.equal(new Set(answers.map((answer) => answer.body.verifiedAt)).size, 1);
    assert.deepEqual(await listOf(server, tenant), [stored]);
  });

  test('two tenants verifying the same CA key in parallel: exactly one 200, the other 409 verification.keyVerifiedByOtherTenant', async () => {
    for (let round = 0; round < 5; round++) {
      const ca = await createCa({ subject: `CN=Contested CA ${round}` });
      const tenants = [newTenant('left'), newTenant('right')];
      const prepared = await Promise.all(tenants.map(async (tenant) => {
        const resource = await uploadCaOk(server, tenant, ca);
        const proof = await proofFor(ca, await registrationCodeOf(server, tenant, resource.id));
        return { tenant, resource, proof };
      }));
      const answers = await Promise.all(prepared.map(({ tenant, resource, proof }) => verify(server, tenant, resource.id, proof.certificatePem)));
      assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 409], `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`);
      const loser = answers.findIndex((answer) => answer.status === 409);
      assertError(answers[loser]!, 409, 'verification.keyVerifiedByOtherTenant');
      const states = await Promise.all(prepared.map(({ tenant, resource }) => server.api(tenant, `/caCertificates/${resource.id}`)));
      assert.deepEqual(states.map((state, i) => state.body.isVerified), prepared.map((_, i) => i !== loser), `round ${round}: only the winner is verified`);
    }
  });

  test('ten tenants racing for one CA key: exactly one wins', async () => {
    const ca = await createCa({ subject: 'CN=Very Contested CA' });
    const prepared = await Promise.all(Array.from({ length: 10 }, async () => {
      const tenant = newTenant('many');
      const resource = await uploadCaOk(server, tenant, ca);
      const proof = await proofFor(ca, await registrationCodeOf(server, tenant, resource.id));
      return { tenant, resource, proof };
    }));
    const answers = await Promise.all(prepared.map(({ tenant, resource, proof }) => verify(server, tenant, resource.id, proof.certificatePem)));
    assert.deepEqual(countBy(answers.map((answer) => answer.status)), { 200: 1, 409: 9 });
    for (const answer of answers.filter((a) => a.status === 409)) assertError(answer, 409, 'verification.keyVerifiedByOtherTenant');
  });

  test('20 parallel deletes of one CA: exactly one 204, the rest 404 caCertificate.notFound', async () => {
    const tenant = newTenant('delete');
    const resource = await uploadCaOk(server, tenant, await createCa());
    const answers = await Promise.all(Array.from({ length: 20 }, () => server.api(tenant, `/caCertificates/${resource.id}`, { method: 'DELETE' })));
    assert.deepEqual(countBy(answers.map((answer) => answer.status)), { 204: 1, 404: 19 });
    for (const answer of answers.filter((a) => a.status === 404)) assertError(answer, 404, 'caCertificate.notFound');
    assert.deepEqual(await listOf(server, tenant), []);
  });
});

// A cluster's nodes share the database (and the data dir's keys, which a node checks against the
// database at start): the limit and the one-tenant-per-key rule must hold when the racing requests
// land on different nodes (separate processes in production; here two apps in one process, each
// with its own connection pool).
describeNeeding('postgres')('concurrent requests on two nodes sharing one PostgreSQL database (REST API)', () => {
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let nodes: TestServer[] = [];

  before(async () => {
    database = await createTestDatabaseUrl('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'trustgate-concurrency-'));
    // Started together: both migrate the fresh database and create the data dir's keys at once.
    nodes = await Promise.all([0, 1].map(() => startTestServer({ TRUSTGATE_DATABASE_URL: database!.url, TRUSTGATE_DATA_DIR: dataDir! })));
  });
  after(async () => {
    for (const node of nodes) await node.close();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('20 parallel uploads for one tenant, split between the nodes: exactly 2 x 201 and 18 x 409 caCertificate.limitReached', async () => {
    const tenant = newTenant('cluster');
    const cas = await Promise.all(Array.from({ length: 20 }, (_, i) => createCa({ subject: `CN=Cluster Race CA ${i}` })));
    const answers = await Promise.all(cas.map((ca, i) => uploadCa(nodes[i % 2]!, tenant, ca, `race ${i}`)));
    assert.deepEqual(countBy(answers.map((answer) => answer.status)), { 201: 2, 409: 18 }, JSON.stringify(answers.filter((a) => a.status !== 201 && a.status !== 409).map((a) => a.body)));
    for (const answer of answers.filter((a) => a.status === 409)) assertError(answer, 409, 'caCertificate.limitReached');
    const created = answers.filter((answer) => answer.status === 201).map((answer) => answer.body.id).sort();
    for (const node of nodes) assert.deepEqual((await listOf(node, tenant)).map((resource) => resource.id).sort(), created);
  });

  test('two tenants verifying the same CA key on different nodes at once: exactly one 200, the other 409', async () => {
    for (let round = 0; round < 3; round++) {
      const ca = await createCa({ subject: `CN=Cluster Contested CA ${round}` });
      const prepared = await Promise.all(nodes.map(async (node) => {
        const tenant = newTenant('node');
        const resource = await uploadCaOk(node, tenant, ca);
        return { node, tenant, resource, proof: await proofFor(ca, await registrationCodeOf(node, tenant, resource.id)) };
      }));
      const answers = await Promise.all(prepared.map(({ node, tenant, resource, proof }) => verify(node, tenant, resource.id, proof.certificatePem)));
      assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 409], `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`);
      assertError(answers.find((answer) => answer.status === 409)!, 409, 'verification.keyVerifiedByOtherTenant');
    }
  });
});
