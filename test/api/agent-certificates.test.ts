import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { createCa, createCsr } from '../support/test-pki.ts';
import { GOOD_AGENT_NAMES, HOSTILE_AGENT_NAMES } from '../support/hostile-names.ts';
import { assertError, assertErrorShape, newTenant, randomId, rawRequest, uploadCaOk, type ApiAnswer } from '../support/api-helpers.ts';

// Issue 4 item 5: POST /agentCertificates answers
// MindConnect's auto-generated agent certificate; with `csr` no private key is generated or
// returned; GET lists without keys; DELETE revokes; tenants are walls; bad names and CSRs get
// specific 4xx and change nothing; reading needs mcmqtt.read, changing mcmqtt.admin.

const RESOURCE_KEYS = [
  'agentId', 'agentName', 'caCertificate', 'caCertificateId', 'clientId', 'createdAt', 'credentials', 'expiration', 'fingerprint',
  'id', 'keySource', 'name', 'notBefore', 'owner', 'privateKey', 'publicKey', 'revokedAt', 'serialNumber', 'status',
];
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CERTIFICATE_PEM = /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/;
const PKCS8_PEM = /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/;

for (const dialect of testDialects) describeOn(dialect)(`agent certificates API [${dialect}]`, () => {
  let server: TestServer;

  before(async () => { server = await startTestServer({}, { dialect }); });

  // Everything the database holds: the SQLite files (with WAL) as bytes, or every PostgreSQL table as text.
  const storedBytes = async (): Promise<{ where: string; bytes: Buffer }[]> => {
    if (dialect === 'sqlite') {
      const files = (await readdir(server.dataDir)).filter((f) => f.startsWith('trustgate.db'));
      assert.ok(files.includes('trustgate.db'), `database files: ${files.join(', ')}`);
      return Promise.all(files.map(async (file) => ({ where: file, bytes: await readFile(join(server.dataDir, file)) })));
    }
    const client = new pg.Client({ connectionString: server.databaseUrl });
    await client.connect();
    try {
      const tables = (await client.query<{ name: string }>(`select table_name as name from information_schema.tables where table_schema = 'public'`)).rows;
      assert.ok(tables.some((table) => table.name === 'managed_ca_certificates'), `tables: ${tables.map((t) => t.name).join(', ')}`);
      return await Promise.all(tables.map(async ({ name }) => ({
        where: `table ${name}`,
        bytes: Buffer.from((await client.query<{ dump: string }>(`select coalesce(string_agg(t::text, E'\\n'), '') as dump from "${name}" t`)).rows[0]!.dump),
      })));
    } finally {
      await client.end();
    }
  };
  after(async () => { await server?.close(); });

  const issue = (tenant: string, body: unknown) => server.api(tenant, '/agentCertificates', { body });
  const issueOk = async (tenant: string, body: unknown): Promise<any> => {
    const answer = await issue(tenant, body);
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return answer.body;
  };
  const listOf = async (tenant: string): Promise<any[]> => {
    const answer = await server.api(tenant, '/agentCertificates');
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body;
  };
  const withToken = async (tenant: string, scopes: string[], path: string, method: string, body?: unknown): Promise<ApiAnswer> =>
    rawRequest(server, path, {
      method, authorization: `Bearer ${await server.token(tenant, { scopes })}`, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  /** The resource as GET shows it: the POST answer without its private key. */
  const withoutKey = (resource: any) => ({ ...resource, privateKey: null, credentials: { ...resource.credentials, privateKey: null } });

  test('POST with a name: 201, the MindConnect shape, a P-256 key that belongs to the certificate, CN = name, signed by the returned managed CA', async () => {
    const tenant = newTenant('ac');
    const answer = await issue(tenant, { name: 'pump-1', owner: 'plant ops' });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(answer.headers.get('cache-control'), 'no-store', 'an answer with a private key must not be cached');
    const body = answer.body;
    assert.deepEqual(Object.keys(body).sort(), RESOURCE_KEYS);
    assert.match(body.id, /^[0-9a-f]{24}$/);
    assert.equal(body.name, 'pump-1');
    assert.equal(body.agentName, 'pump-1');
    assert.equal(body.owner, 'plant ops');
    assert.equal(body.agentId, null, 'no agent has connected yet');
    assert.equal(body.clientId, `${tenant}_pump-1`);
    assert.equal(body.status, 'READY');
    assert.equal(body.keySource, 'generated');
    assert.equal(body.revokedAt, null);
    assert.match(body.privateKey, PKCS8_PEM);
    assert.match(body.publicKey, CERTIFICATE_PEM);
    assert.deepEqual(body.credentials, { certificatePem: body.publicKey, privateKey: body.privateKey });
    assert.match(body.caCertificate, CERTIFICATE_PEM);
    assert.match(body.caCertificateId, /^[0-9a-f]{24}$/);

    const certificate = new X509Certificate(body.publicKey);
    const ca = new X509Certificate(body.caCertificate);
    assert.equal(certificate.subject, 'CN=pump-1');
    assert.ok(certificate.checkIssued(ca) && certificate.verify(ca.publicKey), 'issued directly by the managed CA');
    assert.equal(ca.ca, true);
    assert.ok(ca.verify(ca.publicKey), 'the managed CA is self-signed');
    assert.ok(certificate.checkPrivateKey(createPrivateKey(body.privateKey)), 'the returned key belongs to the certificate');
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(body.expiration, certificate.validToDate.toISOString());
    assert.match(body.expiration, ISO_MS);
    assert.equal(body.notBefore, certificate.validFromDate.toISOString());
    assert.equal(body.fingerprint, certificate.fingerprint256.replaceAll(':', '').toLowerCase());
    assert.equal(body.serialNumber, certificate.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''), 'lowercase hex without leading zeros');
    assert.match(body.createdAt, ISO_MS);
  });

  test('POST with a csr: the device\'s key is certified, no private key is generated or returned', async () => {
    const tenant = newTenant('acs');
    const csr = await createCsr({ subject: 'CN=ignored' });
    const body = await issueOk(tenant, { name: 'pump-csr', csr: csr.csrPem });
    assert.deepEqual(Object.keys(body).sort(), RESOURCE_KEYS);
    assert.equal(body.privateKey, null);
    assert.equal(body.credentials.privateKey, null);
    assert.equal(body.keySource, 'csr');
    assert.equal(body.owner, null, 'an absent owner is null');
    const certificate = new X509Certificate(body.publicKey);
    assert.equal(certificate.subject, 'CN=pump-csr', 'CN = name, whatever the CSR asked for');
    assert.ok(certificate.checkPrivateKey(createPrivateKey(csr.privateKeyPem)), 'the certificate is for the device\'s key');
  });

  test('GET lists the tenant\'s certificates (issue order) and GET {id} answers one: the same resource, without private keys', async () => {
    const tenant = newTenant('acl');
    const first = await issueOk(tenant, { name: 'l-1' });
    const second = await issueOk(tenant, { name: 'l-2', csr: (await createCsr()).csrPem });
    const list = await server.api(tenant, '/agentCertificates');
    assert.equal(list.status, 200);
    assert.doesNotMatch(JSON.stringify(list.body), /PRIVATE KEY/);
    assert.deepEqual(list.body, [withoutKey(first), second]);
    const one = await server.api(tenant, `/agentCertificates/${first.id}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, withoutKey(first));
    assert.equal(first.caCertificate, second.caCertificate, 'one managed CA per tenant');
    assert.equal(first.caCertificateId, second.caCertificateId);
  });

  test('the managed CA takes no CA certificate slot: the tenant can still upload two CAs', async () => {
    const tenant = newTenant('acs');
    await issueOk(tenant, { name: 'slot-1' });
    assert.deepEqual((await server.api(tenant, '/caCertificates')).body, [], 'the managed CA is not listed among the uploaded CA certificates');
    for (const subject of ['CN=Slot CA 1', 'CN=Slot CA 2']) await uploadCaOk(server, tenant, await createCa({ subject }));
    assertError(await server.api(tenant, '/caCertificates', { body: { name: 'third', caCertificate: (await createCa()).certificatePem } }), 409, 'caCertificate.limitReached');
    await issueOk(tenant, { name: 'slot-2' });
  });

  test('DELETE revokes: 204, status REVOKED with revokedAt, the record stays; again: 204, unchanged; the name can be issued again', async () => {
    const tenant = newTenant('acd');
    const issued = await issueOk(tenant, { name: 'd-1' });
    const deleted = await server.api(tenant, `/agentCertificates/${issued.id}`, { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    assert.equal(deleted.body, undefined);
    const revoked = (await server.api(tenant, `/agentCertificates/${issued.id}`)).body;
    assert.deepEqual(revoked, { ...withoutKey(issued), status: 'REVOKED', revokedAt: revoked.revokedAt });
    assert.match(revoked.revokedAt, ISO_MS);

    assert.equal((await server.api(tenant, `/agentCertificates/${issued.id}`, { method: 'DELETE' })).status, 204);
    assert.deepEqual((await server.api(tenant, `/agentCertificates/${issued.id}`)).body, revoked);

    const again = await issueOk(tenant, { name: 'd-1' });
    assert.notEqual(again.id, issued.id);
    assert.notEqual(again.fingerprint, issued.fingerprint);
    assert.deepEqual((await listOf(tenant)).map((c) => [c.id, c.status]), [[issued.id, 'REVOKED'], [again.id, 'READY']]);
  });

  describe('refusals change nothing', () => {
    const tenant = newTenant('acr');
    let snapshot: any[];
    let existing: any;

    before(async () => {
      existing = await issueOk(tenant, { name: 'taken' });
      snapshot = await listOf(tenant);
    });

    const assertUnchanged = async (context: string) => assert.deepEqual(await listOf(tenant), snapshot, `nothing changed after ${context}`);

    // The same table the CLI's `agent issue --name` is tested with (issue 13, item 5: one rule).
    test('every hostile name: 400 agentCertificate.nameInvalid, saying what is wrong and what to use', async () => {
      for (const [what, name] of HOSTILE_AGENT_NAMES) {
        const answer = await issue(tenant, { name });
        assertError(answer, 400, 'agentCertificate.nameInvalid', /cannot be an agent name: it (is|holds|starts|has) .*Use 1-64 letters, digits/);
        assert.doesNotMatch(answer.body.errors[0].message, /[\u0000-\u001f\u007f-\u009f]/, `${what}: the message never carries a control character`);
      }
      await assertUnchanged('hostile names');
    });

    test('an owner of only white space is refused like an empty name: 400 request.invalid (issue 13, item 6)', async () => {
      for (const owner of ['', '   ', '\t']) {
        assertError(await issue(tenant, { name: 'owned-blank', owner }), 400, 'request.invalid', /owner must not be empty or only white space/);
      }
      await assertUnchanged('blank owners');
    });

    test('a name with an active certificate already: 409 agentCertificate.duplicate', async () => {
      assertError(await issue(tenant, { name: 'taken' }), 409, 'agentCertificate.duplicate', /"taken".*DELETE \/agentCertificates/);
      assertError(await issue(tenant, { name: 'taken', csr: (await createCsr()).csrPem }), 409, 'agentCertificate.duplicate');
      await assertUnchanged('a duplicate');
    });

    test('bad CSRs: csr.invalid (not PKCS#10, not signed by its key), csr.weakKey, pem.privateKeyIncluded', async () => {
      const good = await createCsr({ subject: 'CN=x' });
      const weak = await createCsr({ subject: 'CN=x', keyType: 'rsa1024' });
      const lines = good.csrPem.split('\n');
      // Flip one character of the signature (the last base64 line before END): it no longer verifies.
      const last = lines.length - 3;
      lines[last] = lines[last]!.replace(/^(.)/, (c) => (c === 'A' ? 'B' : 'A'));
      const cases: [string, unknown, string][] = [
        ['not PEM', 'hello', 'csr.invalid'],
        ['empty', '', 'csr.invalid'],
        ['a certificate instead of a CSR', existing.publicKey, 'csr.invalid'],
        ['a signature that does not verify', lines.join('\n'), 'csr.invalid'],
        ['an RSA-1024 key', weak.csrPem, 'csr.weakKey'],
        ['a private key', good.privateKeyPem, 'pem.privateKeyIncluded'],
      ];
      for (const [what, csr, code] of cases) {
        const answer = await issue(tenant, { name: 'csr-case', csr });
        assertError(answer, 400, code);
        assert.doesNotMatch(JSON.stringify(answer.body), /PRIVATE KEY/, `${what}: the error never echoes a key`);
      }
      await assertUnchanged('bad CSRs');
    });

    test('schema violations: 400 request.invalid (missing or non-string name, owner > 256, unknown field, csr not a string)', async () => {
      for (const body of [{}, { name: 5 }, { name: null }, { name: 'ok', owner: 'o'.repeat(257) }, { name: 'ok', owner: 5 }, { name: 'ok', CSR: 'x' }, { name: 'ok', csr: 5 }, []]) {
        assertError(await issue(tenant, body), 400, 'request.invalid');
      }
      assertError(await rawRequest(server, '/agentCertificates', { tenant, body: '{"name": ' }), 400, 'request.malformedJson');
      assertError(await rawRequest(server, '/agentCertificates', { tenant, body: 'name=x', contentType: 'text/plain' }), 415, 'request.unsupportedMediaType');
      await assertUnchanged('schema violations');
    });

    test('every good name is issued as sent; an owner\'s surrounding white space is trimmed', async () => {
      const goodTenant = newTenant('acg');
      for (const name of GOOD_AGENT_NAMES) {
        const issued = await issueOk(goodTenant, { name, owner: ' plant ops ' });
        assert.equal(issued.name, name);
        assert.equal(issued.clientId, `${goodTenant}_${name}`);
        assert.equal(issued.owner, 'plant ops');
      }
    });

    test('an owner of exactly 256 characters is fine', async () => {
      const owner = 'o'.repeat(256);
      assert.equal((await issueOk(newTenant('aco'), { name: 'owned', owner })).owner, owner);
    });
  });

  test('~150 random and hostile requests: always 4xx with the error body, never a 5xx, nothing changes', async () => {
    const tenant = newTenant('acf');
    await issueOk(tenant, { name: 'fuzz-kept' });
    const snapshot = await listOf(tenant);
    // A small deterministic PRNG (mulberry32), so a failing case can be reproduced from its index.
    let seed = 20261127;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const randomString = (max: number): string => {
      const alphabets = ['abcXYZ019', '-._/+# ', '-----BEGIN CERTIFICATE REQUEST-----\n', 'äöü€😀\u0000\u202e\ud800\uffff\n\t', '\\"\'<>{}[],=', 'MIIB+/=AAAA'];
      const length = Math.floor(random() * max);
      let text = '';
      while (text.length < length) text += pick(alphabets)[Math.floor(random() * 12)] ?? 'x';
      return text;
    };
    const csr = (await createCsr({ subject: 'CN=fuzz' })).csrPem;
    // Mutations in the middle of the base64 (never the padding bits of a line's last character).
    const mutatedCsr = (): string => {
      const chars = [...csr];
      for (let i = 0; i < 1 + Math.floor(random() * 4); i++) {
        const at = 40 + Math.floor(random() * (chars.length - 80));
        if (chars[at] !== '\n' && chars[at + 1] !== '\n') chars[at] = chars[at] === 'A' ? 'B' : 'A';
      }
      return chars.join('');
    };
    const invalidName = () => `${pick(['', '-', '.', '_', ' '])}${randomString(80)}${pick(['/', '+', '#', ' ', '\u0000', 'ä', ','])}`;
    const bodies: (() => string)[] = [
      () => JSON.stringify({ name: randomString(70) || 'x', csr: mutatedCsr() }),
      () => JSON.stringify({ name: invalidName(), owner: randomString(300) }),
      () => JSON.stringify({ name: randomString(70) || 'x', csr: randomString(400) }),
      () => JSON.stringify({ name: invalidName(), csr }),
      () => JSON.stringify({ name: pick([5, null, true, [], {}]) }),
      () => JSON.stringify({ name: 'ok-name', [randomString(10) || 'k']: randomString(20) }),
      () => randomString(200),
      () => `{"name": "${randomString(30)}`,
    ];
    for (let i = 0; i < 150; i++) {
      const body = pick(bodies)();
      const answer = await rawRequest(server, '/agentCertificates', { tenant, body });
      const context = `case ${i}: ${body.slice(0, 120)}`;
      assert.ok(answer.status >= 400 && answer.status < 500, `${context} → ${answer.status} ${answer.text.slice(0, 200)}`);
      assertErrorShape(answer, context);
    }
    for (const id of [randomString(40).toWellFormed(), '%00', '..', `${'a'.repeat(24)}/x`, 'ffffffffffffffffffffffff']) {
      for (const method of ['GET', 'DELETE']) {
        const answer = await rawRequest(server, `/agentCertificates/${encodeURIComponent(id)}`, { tenant, method });
        assert.ok(answer.status >= 400 && answer.status < 500, `${method} ${JSON.stringify(id)} → ${answer.status}`);
        assertErrorShape(answer, `${method} ${JSON.stringify(id)}`);
      }
    }
    assert.deepEqual(await listOf(tenant), snapshot);
  });

  describe('scopes and tokens', () => {
    const tenant = newTenant('acsc');
    let issued: any;
    before(async () => { issued = await issueOk(tenant, { name: 'scoped' }); });

    test('a read-only token: GET works; POST and DELETE answer 403 auth.scopeMissing and change nothing', async () => {
      const snapshot = await listOf(tenant);
      const list = await withToken(tenant, ['mcmqtt.read'], '/agentCertificates', 'GET');
      assert.equal(list.status, 200);
      assert.deepEqual(list.body, snapshot);
      assert.equal((await withToken(tenant, ['mcmqtt.read'], `/agentCertificates/${issued.id}`, 'GET')).status, 200);
      assertError(await withToken(tenant, ['mcmqtt.read'], '/agentCertificates', 'POST', { name: 'read-only' }), 403, 'auth.scopeMissing', /mcmqtt\.admin/);
      assertError(await withToken(tenant, ['mcmqtt.read'], `/agentCertificates/${issued.id}`, 'DELETE'), 403, 'auth.scopeMissing');
      assert.deepEqual(await listOf(tenant), snapshot);
    });

    test('no token: 401 on every route', async () => {
      for (const [method, path] of [['POST', '/agentCertificates'], ['GET', '/agentCertificates'], ['GET', `/agentCertificates/${issued.id}`], ['DELETE', `/agentCertificates/${issued.id}`]] as const) {
        assertError(await rawRequest(server, path, { method, authorization: null, ...(method === 'POST' ? { body: '{"name":"x"}' } : {}) }), 401, 'auth.tokenMissing');
      }
      assert.equal((await server.api(tenant, `/agentCertificates/${issued.id}`)).body.status, 'READY');
    });
  });

  describe('tenant walls', () => {
    const tenantA = newTenant('aca');
    const tenantB = newTenant('acb');
    let certificateA: any;

    // The answer without what legitimately differs: the request id and the id that was asked for.
    const comparable = (answer: ApiAnswer, id: string) => ({
      status: answer.status,
      contentType: answer.headers.get('content-type'),
      text: answer.text.replace(/"logref":"[^"]*"/, '"logref":"<logref>"').replaceAll(id, '<id>'),
    });

    before(async () => {
      certificateA = await issueOk(tenantA, { name: 'wall-1' });
      await issueOk(tenantB, { name: 'wall-b' });
    });

    test('B\'s list holds only B\'s certificates; the same name is B\'s own in B', async () => {
      const listB = await listOf(tenantB);
      assert.deepEqual(listB.map((c) => c.name), ['wall-b']);
      const sameName = await issueOk(tenantB, { name: 'wall-1' });
      assert.equal(sameName.clientId, `${tenantB}_wall-1`);
      assert.notEqual(sameName.caCertificateId, certificateA.caCertificateId, 'each tenant has its own managed CA');
      assert.notEqual(sameName.caCertificate, certificateA.caCertificate);
    });

    for (const method of ['GET', 'DELETE']) {
      test(`${method} /agentCertificates/{A's id} as B answers exactly like a missing id, and A's certificate is untouched`, async () => {
        const snapshot = (await server.api(tenantA, `/agentCertificates/${certificateA.id}`)).body;
        const foreign = await rawRequest(server, `/agentCertificates/${certificateA.id}`, { tenant: tenantB, method });
        const missingId = randomId();
        const missing = await rawRequest(server, `/agentCertificates/${missingId}`, { tenant: tenantB, method });
        assertError(foreign, 404, 'agentCertificate.notFound');
        assert.deepEqual(comparable(foreign, certificateA.id), comparable(missing, missingId));
        const malformed = await rawRequest(server, '/agentCertificates/not-an-id', { tenant: tenantB, method });
        assertError(malformed, 404, 'agentCertificate.notFound');
        assert.deepEqual((await server.api(tenantA, `/agentCertificates/${certificateA.id}`)).body, snapshot);
        assert.equal(snapshot.status, 'READY');
      });
    }
  });

  test('no agent private key is stored: the database holds neither the returned key nor any plain private key', async () => {
    const tenant = newTenant('ack');
    const issued = await issueOk(tenant, { name: 'secret' });
    const keyBody = issued.privateKey.split('\n').slice(1, -2).join('');
    assert.ok(keyBody.length > 40);
    const stored = await storedBytes();
    assert.ok(stored.some(({ bytes }) => bytes.includes(issued.publicKey.split('\n')[1])), 'control: the issued certificate is found where it is stored');
    for (const { where, bytes } of stored) {
      for (const line of issued.privateKey.split('\n').slice(1, -2)) assert.equal(bytes.includes(line), false, `${where} holds a line of the agent's private key`);
      assert.equal(bytes.includes('PRIVATE KEY'), false, `${where} holds a plain private key (the managed CA's must be sealed)`);
    }
  });
});
