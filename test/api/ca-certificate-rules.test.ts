import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/test-pki.ts';
import {
  assertError, assertErrorShape, listOf, newTenant, proofFor, randomId, rawRequest, registrationCodeOf, uploadCa,
  uploadCaOk, verify,
} from '../support/api-helpers.ts';

// Every rule for an uploaded CA certificate and for its registration code and verification
// (README, "REST API"; docs/errors.md), over real HTTP against the real app on each dialect. Each refusal is checked for its
// status, its specific code, a message that says how to fix it, and that nothing changed.

const DAY_MS = 86_400_000;
const ID = /^[0-9a-f]{24}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// Base64 lines of a PEM private key: none of them may come back in an answer.
const keyLines = (privateKeyPem: string): string[] =>
  privateKeyPem.split('\n').filter((line) => line.length >= 16 && !line.startsWith('-----'));

const assertNoKeyEcho = (text: string, privateKeyPem: string): void => {
  for (const line of keyLines(privateKeyPem)) assert.ok(!text.includes(line), 'the answer must not echo the private key');
  assert.ok(!text.includes('PRIVATE KEY-----'), 'the answer must not echo the private key header');
};

// A small deterministic PRNG, so a failing fuzz case can be reproduced from its index.
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

for (const dialect of testDialects) describeOn(dialect)(`CA certificate rules and verification (REST API) [${dialect}]`, () => {
  let server: TestServer;
  // One tenant that keeps one CA certificate; every refused upload is checked against its list.
  const rules = newTenant('rules');
  let baseline: TestCertificate;
  let baselineResource: any;

  before(async () => {
    server = await startTestServer({}, { dialect });
    baseline = await createCa({ subject: 'CN=Rules Baseline CA,O=Acme' });
    baselineResource = await uploadCaOk(server, rules, baseline, 'baseline');
  });
  after(async () => { await server?.close(); });

  // Sends `body` (an object, or a raw string) to POST /caCertificates of the rules tenant and
  // asserts the refusal and that the tenant's list is exactly what it was.
  const refuseUpload = async (
    body: unknown, status: number, code: string, message?: RegExp, options: { contentType?: string | null; tenant?: string } = {},
  ) => {
    const tenant = options.tenant ?? rules;
    const before = await listOf(server, tenant);
    const answer = await rawRequest(server, '/caCertificates', {
      tenant,
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
    });
    const error = assertError(answer, status, code, message);
    assert.deepEqual(await listOf(server, tenant), before, 'a refused upload changes nothing');
    return { answer, error };
  };

  const upload = (ca: { certificatePem: string }, name = 'refused') => ({ name, caCertificate: ca.certificatePem });

  // --- what the certificate is ---
  test('CA:FALSE is refused: 400 caCertificate.notCa', async () => {
    const leafLike = await createCa({ basicConstraints: { ca: false, critical: true } });
    await refuseUpload(upload(leafLike), 400, 'caCertificate.notCa', /CA:FALSE.*CA:TRUE/s);
  });

  test('no basicConstraints is refused: 400 caCertificate.notCa', async () => {
    const noConstraints = await createCa({ basicConstraints: null });
    await refuseUpload(upload(noConstraints), 400, 'caCertificate.notCa', /no basicConstraints.*CA:TRUE/s);
  });

  test('an X.509 v1 CA is refused: 400 caCertificate.notV3', async () => {
    const v1 = await createCa({ version: 1 });
    await refuseUpload(upload(v1), 400, 'caCertificate.notV3', /v1.*v3/s);
  });

  test('keyUsage without keyCertSign is refused: 400 caCertificate.keyCertSignMissing', async () => {
    const noCertSign = await createCa({ keyUsage: ['digitalSignature', 'cRLSign'] });
    await refuseUpload(upload(noCertSign), 400, 'caCertificate.keyCertSignMissing', /keyCertSign/);
  });

  test('an intermediate CA is refused: 400 caCertificate.intermediateNotSupported', async () => {
    const root = await createCa({ subject: 'CN=Some Root' });
    const intermediate = await issueCertificate(root, {
      subject: 'CN=Some Intermediate', basicConstraints: { ca: true, critical: true }, keyUsage: ['keyCertSign', 'cRLSign'],
    });
    const { error } = await refuseUpload(upload(intermediate), 400, 'caCertificate.intermediateNotSupported', /intermediate/i);
    assert.match(error.message, /Some Root/, 'names the issuer it found');
    assert.match(error.message, /self-signed root/);
  });

  test('issuer = subject but not signed by its own key is refused: 400 caCertificate.intermediateNotSupported', async () => {
    const other = await createCa({ subject: 'CN=Look Alike' });
    const forged = await issueCertificate(other, {
      subject: 'CN=Look Alike', basicConstraints: { ca: true, critical: true }, keyUsage: ['keyCertSign', 'cRLSign'],
    });
    await refuseUpload(upload(forged), 400, 'caCertificate.intermediateNotSupported', /self-signed/);
  });

  // --- validity ---
  test('an expired CA is refused: 400 caCertificate.expired', async () => {
    const expired = await createCa({ notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') });
    await refuseUpload(upload(expired), 400, 'caCertificate.expired', /expired at 2021-01-01T00:00:00\.000Z.*new CA/s);
  });

  test('a CA that is not yet valid is refused: 400 caCertificate.notYetValid', async () => {
    const notBefore = new Date(Math.floor((Date.now() + DAY_MS) / 1000) * 1000);
    const future = await createCa({ notBefore, notAfter: new Date(Date.now() + 30 * DAY_MS) });
    await refuseUpload(upload(future), 400, 'caCertificate.notYetValid', new RegExp(`not valid before ${notBefore.toISOString().replace(/\./g, '\\.')}.*clock`, 's'));
  });

  test('notBefore one minute ahead (within the clock skew) is accepted', async () => {
    const tenant = newTenant('skew');
    const slightlyAhead = await createCa({ notBefore: new Date(Date.now() + 60_000) });
    const answer = await uploadCa(server, tenant, slightlyAhead);
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
  });

  // --- key and signature ---
  test('an RSA-1024 key is refused: 400 caCertificate.weakKey', async () => {
    const rsa1024 = await createCa({ keyType: 'rsa1024' });
    await refuseUpload(upload(rsa1024), 400, 'caCertificate.weakKey', /RSA 1024 bits.*2048/s);
  });

  test('an Ed25519 key is refused: 400 caCertificate.weakKey', async () => {
    const ed25519 = await createCa({ keyType: 'ed25519' });
    await refuseUpload(upload(ed25519), 400, 'caCertificate.weakKey', /ed25519.*P-256/is);
  });

  test('a SHA-1 signature is refused: 400 caCertificate.weakSignature', async () => {
    const sha1 = await createCa({ hash: 'SHA-1' });
    await refuseUpload(upload(sha1), 400, 'caCertificate.weakSignature', /SHA1.*SHA-256/s);
  });

  test('RSA-2048, P-384 and P-521 with SHA-256/384/512 are accepted', async () => {
    const tenant = newTenant('keys');
    const rsa = await createCa({ keyType: 'rsa2048', hash: 'SHA-256' });
    const p384 = await createCa({ keyType: 'p384', hash: 'SHA-384' });
    const p521 = await createCa({ keyType: 'p521', hash: 'SHA-512' });
    assert.equal((await uploadCa(server, tenant, rsa)).status, 201);
    assert.equal((await uploadCa(server, tenant, p384)).status, 201);
    assert.equal((await uploadCa(server, newTenant('keys'), p521)).status, 201);
  });

  // --- what the body holds ---
  test('a private key after the certificate is refused (400 pem.privateKeyIncluded) and not echoed', async () => {
    const ca = await createCa();
    const { answer } = await refuseUpload({ name: 'with key', caCertificate: ca.certificatePem + ca.privateKeyPem },
      400, 'pem.privateKeyIncluded', /private key.*only the certificate/s);
    assertNoKeyEcho(answer.text, ca.privateKeyPem);
  });

  test('traditional (EC / RSA) and encrypted private key PEM are refused too', async () => {
    const ca = await createCa();
    const key = createPrivateKey(ca.privateKeyPem);
    const variants = [
      key.export({ type: 'sec1', format: 'pem' }).toString(),
      key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString(),
      createPrivateKey((await createCa({ keyType: 'rsa1024' })).privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString(),
    ];
    for (const keyPem of variants) {
      const { answer } = await refuseUpload({ name: 'with key', caCertificate: keyPem + ca.certificatePem }, 400, 'pem.privateKeyIncluded');
      assertNoKeyEcho(answer.text, keyPem);
    }
  });

  test('a private key anywhere in the body (description field) is refused: 400 pem.privateKeyIncluded', async () => {
    const ca = await createCa();
    const { answer } = await refuseUpload({ name: 'key in description', caCertificate: ca.certificatePem, description: ca.privateKeyPem },
      400, 'pem.privateKeyIncluded', undefined, { tenant: newTenant('key-description') });
    assertNoKeyEcho(answer.text, ca.privateKeyPem);
  });

  test('a private key anywhere in the body (an extra field) is refused: 400 pem.privateKeyIncluded', async () => {
    const ca = await createCa();
    const { answer } = await refuseUpload({ name: 'key in extra field', caCertificate: ca.certificatePem, privateKey: ca.privateKeyPem },
      400, 'pem.privateKeyIncluded', undefined, { tenant: newTenant('key-extra') });
    assertNoKeyEcho(answer.text, ca.privateKeyPem);
  });

  test('a chain (CA + its issuer) is refused: 400 pem.multipleCertificates', async () => {
    const root = await createCa();
    const intermediate = await issueCertificate(root, { basicConstraints: { ca: true } });
    await refuseUpload({ name: 'chain', caCertificate: intermediate.certificatePem + root.certificatePem },
      400, 'pem.multipleCertificates', /2 certificates.*exactly one/s);
  });

  test('a bundle of two roots is refused: 400 pem.multipleCertificates', async () => {
    const first = await createCa();
    const second = await createCa();
    await refuseUpload({ name: 'bundle', caCertificate: `${first.certificatePem}\n${second.certificatePem}` }, 400, 'pem.multipleCertificates');
  });

  test('garbage is refused: 400 pem.invalid', async () => {
    await refuseUpload({ name: 'garbage', caCertificate: 'hello world' }, 400, 'pem.invalid', /BEGIN CERTIFICATE/);
    await refuseUpload({ name: 'garbage', caCertificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }, 400, 'pem.invalid');
    await refuseUpload({ name: 'garbage', caCertificate: baseline.certificatePem.replace('BEGIN CERTIFICATE', 'BEGIN CERTIFICATE REQUEST') }, 400, 'pem.invalid');
  });

  test('a body over 64 KiB is refused: 413 request.bodyTooLarge', async () => {
    const body = JSON.stringify({ name: 'big', caCertificate: `${baseline.certificatePem}${' '.repeat(70 * 1024)}` });
    assert.ok(Buffer.byteLength(body) > 64 * 1024);
    await refuseUpload(body, 413, 'request.bodyTooLarge', /64 KiB/);
  });

  test('text/plain is refused: 415 request.unsupportedMediaType', async () => {
    await refuseUpload(JSON.stringify(upload(await createCa())), 415, 'request.unsupportedMediaType', /application\/json/, { contentType: 'text/plain' });
  });

  test('form encoding is refused: 415 request.unsupportedMediaType', async () => {
    await refuseUpload('name=x&caCertificate=y', 415, 'request.unsupportedMediaType', /application\/json/, { contentType: 'application/x-www-form-urlencoded' });
  });

  test('malformed JSON is refused: 400 request.malformedJson', async () => {
    await refuseUpload('{"name": "x", "caCertificate": ', 400, 'request.malformedJson', /JSON/);
    await refuseUpload('{name: x}', 400, 'request.malformedJson', /JSON/);
  });

  test('an empty JSON body is refused: 400 request.invalid', async () => {
    await refuseUpload('', 400, 'request.invalid', /JSON/);
  });

  test('wrong types are refused, never coerced: 400 request.invalid', async () => {
    const pem = baseline.certificatePem;
    await refuseUpload({ name: 5, caCertificate: pem }, 400, 'request.invalid', /name.*string/s);
    await refuseUpload({ name: true, caCertificate: pem }, 400, 'request.invalid', /name/);
    await refuseUpload({ name: ['a'], caCertificate: pem }, 400, 'request.invalid', /name/);
    await refuseUpload({ name: null, caCertificate: pem }, 400, 'request.invalid', /name/);
    await refuseUpload({ name: 'x', caCertificate: {} }, 400, 'request.invalid', /caCertificate.*string/s);
    await refuseUpload({ name: 'x', caCertificate: [pem] }, 400, 'request.invalid', /caCertificate/);
    await refuseUpload({ name: 'x', caCertificate: 12345 }, 400, 'request.invalid', /caCertificate/);
    await refuseUpload([{ name: 'x', caCertificate: pem }], 400, 'request.invalid');
    await refuseUpload('null', 400, 'request.invalid');
    await refuseUpload('"a string"', 400, 'request.invalid');
  });

  test('a missing name is refused: 400 request.invalid', async () => {
    await refuseUpload({ caCertificate: (await createCa()).certificatePem }, 400, 'request.invalid', /missing.*"name"/s);
  });

  test('an empty name is refused: 400 request.invalid', async () => {
    await refuseUpload({ name: '', caCertificate: (await createCa()).certificatePem }, 400, 'request.invalid', /name.*empty/s);
  });

  test('a name of only white space is refused like an empty one: 400 request.invalid (issue 13, item 6)', async () => {
    const pem = (await createCa()).certificatePem;
    for (const name of [' ', '   ', '\t\n', '\u00a0\u3000']) {
      await refuseUpload({ name, caCertificate: pem }, 400, 'request.invalid', /name must not be empty or only white space/);
    }
  });

  test('surrounding white space is trimmed from the name; inner white space stays', async () => {
    const answer = await uploadCa(server, newTenant('names'), await createCa(), '  acme  CA\t');
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.equal(answer.body.name, 'acme  CA');
  });

  test('a 129-character name is refused: 400 request.invalid; 128 characters are accepted', async () => {
    const ca = await createCa();
    await refuseUpload({ name: 'n'.repeat(129), caCertificate: ca.certificatePem }, 400, 'request.invalid', /name.*128/s);
    const answer = await uploadCa(server, newTenant('names'), ca, 'n'.repeat(128));
    assert.equal(answer.status, 201);
    assert.equal(answer.body.name, 'n'.repeat(128));
  });

  test('a missing caCertificate is refused: 400 request.invalid', async () => {
    await refuseUpload({ name: 'no pem' }, 400, 'request.invalid', /missing.*"caCertificate"/s);
    await refuseUpload({ name: 'empty pem', caCertificate: '' }, 400, 'request.invalid', /caCertificate/);
  });

  test('PEM with \\r\\n, surrounding whitespace, or without a final newline is accepted', async () => {
    const variants = [
      (pem: string) => pem.replaceAll('\n', '\r\n'),
      (pem: string) => `\n\n   ${pem}  \n\t\n`,
      (pem: string) => pem.trimEnd(),
    ];
    for (const variant of variants) {
      const ca = await createCa();
      const answer = await server.api(newTenant('pem'), '/caCertificates', { body: { name: 'formatted', caCertificate: variant(ca.certificatePem) } });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      if ('caCertificate' in answer.body) assert.equal(answer.body.caCertificate, ca.certificatePem, 'stored in canonical PEM');
      if ('fingerprint' in answer.body) assert.match(answer.body.fingerprint, /^[0-9a-f]{64}$/);
    }
  });

  test('Content-Type application/json; charset=utf-8 is accepted', async () => {
    const ca = await createCa();
    const answer = await rawRequest(server, '/caCertificates', {
      tenant: newTenant('charset'), method: 'POST', contentType: 'application/json; charset=utf-8', body: JSON.stringify(upload(ca, 'charset')),
    });
    assert.equal(answer.status, 201, answer.text);
  });

  // --- duplicates and the limit ---
  test('the same certificate twice in a tenant: 409 caCertificate.duplicate (also reformatted)', async () => {
    await refuseUpload(upload(baseline, 'again'), 409, 'caCertificate.duplicate', /already registered.*GET \/caCertificates/s);
    await refuseUpload({ name: 'again', caCertificate: baseline.certificatePem.replaceAll('\n', '\r\n') }, 409, 'caCertificate.duplicate');
  });

  test('the third CA certificate of a tenant: 409 caCertificate.limitReached; counted over verified ones; a delete frees a slot', async () => {
    const tenant = newTenant('limit');
    const first = await createCa();
    const firstResource = await uploadCaOk(server, tenant, first);
    await uploadCaOk(server, tenant, await createCa());
    // Verify one: a verified CA still takes its slot.
    const code = await registrationCodeOf(server, tenant, firstResource.id);
    assert.equal((await verify(server, tenant, firstResource.id, (await proofFor(first, code)).certificatePem)).status, 200);

    const before = await listOf(server, tenant);
    const third = await uploadCa(server, tenant, await createCa());
    assertError(third, 409, 'caCertificate.limitReached', /2 CA certificates.*DELETE/s);
    assert.deepEqual(await listOf(server, tenant), before);
    // Duplicate wins over the limit: it says more about what went wrong.
    assertError(await uploadCa(server, tenant, first), 409, 'caCertificate.duplicate');

    const deleted = await server.api(tenant, `/caCertificates/${firstResource.id}`, { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    assert.equal(deleted.body, undefined);
    assert.equal((await uploadCa(server, tenant, await createCa())).status, 201);
    assert.equal((await listOf(server, tenant)).length, 2);
  });

  // --- the CA resource ---
  test('POST answers 201 with id, name, expiration (notAfter, ISO with ms), commonName, isVerified; GET and list agree', async () => {
    const tenant = newTenant('shape');
    const notAfter = new Date('2031-05-30T09:22:55.000Z');
    const ca = await createCa({ subject: 'CN=Acme Device CA,O=Acme,C=DE', notAfter });
    const created = await server.api(tenant, '/caCertificates', { body: { name: 'Acme devices', caCertificate: ca.certificatePem } });
    assert.equal(created.status, 201);
    assert.match(created.headers.get('content-type') ?? '', /^application\/json/);
    const resource = created.body;
    assert.match(resource.id, ID);
    assert.equal(resource.name, 'Acme devices');
    assert.equal(resource.expiration, '2031-05-30T09:22:55.000Z');
    assert.equal(resource.commonName, 'Acme Device CA');
    assert.equal(resource.isVerified, false);
    assert.equal(resource.verifiedAt ?? null, null);
    for (const field of ['expiration', 'notBefore', 'createdAt']) {
      if (resource[field] !== undefined) assert.match(resource[field], ISO_MS, field);
    }

    const fetched = await server.api(tenant, `/caCertificates/${resource.id}`);
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.body, resource);
    assert.deepEqual(await listOf(server, tenant), [resource]);
  });

  test('the name round-trips exactly (unicode, NUL, quotes); an expiration after 2049 (GeneralizedTime) is exact too', async () => {
    const tenant = newTenant('roundtrip');
    const name = 'Ümlaut € 😀 \u202e\u0000 x\t"\'<script>';
    const ca = await createCa({ subject: 'CN=Long Lived CA', notAfter: new Date('2099-12-31T23:59:59Z') });
    const created = await server.api(tenant, '/caCertificates', { body: { name, caCertificate: ca.certificatePem } });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, name);
    assert.equal(created.body.expiration, '2099-12-31T23:59:59.000Z');
    assert.equal((await server.api(tenant, `/caCertificates/${created.body.id}`)).body.name, name);
    // 128 characters means characters, not UTF-16 units.
    assert.equal((await uploadCa(server, tenant, await createCa(), '😀'.repeat(128))).status, 201);
  });

  test('ids differ per upload and look like MindConnect ids', async () => {
    const tenant = newTenant('ids');
    const a = await uploadCaOk(server, tenant, await createCa());
    const b = await uploadCaOk(server, tenant, await createCa());
    assert.match(a.id, ID);
    assert.match(b.id, ID);
    assert.notEqual(a.id, b.id);
  });

  test('the baseline tenant still holds exactly its one CA', async () => {
    assert.deepEqual(await listOf(server, rules), [baselineResource]);
  });

  // --- registration code ---
  test('>= 128 bits, <= 64 characters, stable across calls and on the shorthand path', async () => {
    const code = await registrationCodeOf(server, rules, baselineResource.id);
    assert.match(code, /^[0-9a-f]{32,64}$/, 'at least 32 hex characters (128 bits), at most 64 (a CN)');
    assert.equal(await registrationCodeOf(server, rules, baselineResource.id), code);
    const shorthand = await server.api(rules, `/${baselineResource.id}/registrationCode`);
    assert.equal(shorthand.status, 200);
    assert.deepEqual(shorthand.body, { registrationCode: code });
  });

  test('the shorthand path answers 404 caCertificate.notFound for an unknown id', async () => {
    assertError(await server.api(rules, `/${randomId()}/registrationCode`), 404, 'caCertificate.notFound');
  });

  test('differs per CA, also for the same certificate in two tenants', async () => {
    const tenant = newTenant('codes');
    const one = await uploadCaOk(server, tenant, await createCa());
    const two = await uploadCaOk(server, tenant, await createCa());
    const otherTenant = newTenant('codes');
    const elsewhere = await uploadCaOk(server, otherTenant, baseline);
    const codes = [
      await registrationCodeOf(server, tenant, one.id),
      await registrationCodeOf(server, tenant, two.id),
      await registrationCodeOf(server, rules, baselineResource.id),
      await registrationCodeOf(server, otherTenant, elsewhere.id),
    ];
    assert.equal(new Set(codes).size, 4, `four different codes: ${codes.join(', ')}`);
    for (const code of codes) assert.match(code, /^[0-9a-f]{32,64}$/);
  });

  test('the code of CA 1 does not verify CA 2: 400 verification.registrationCodeMismatch', async () => {
    const tenant = newTenant('swap');
    const ca1 = await createCa();
    const ca2 = await createCa();
    const r1 = await uploadCaOk(server, tenant, ca1);
    const r2 = await uploadCaOk(server, tenant, ca2);
    const code1 = await registrationCodeOf(server, tenant, r1.id);
    const code2 = await registrationCodeOf(server, tenant, r2.id);
    const proof = await proofFor(ca2, code1);
    const error = assertError(await verify(server, tenant, r2.id, proof.certificatePem), 400, 'verification.registrationCodeMismatch');
    assert.ok(error.message.includes(code1) && error.message.includes(code2), error.message);
    assert.equal((await server.api(tenant, `/caCertificates/${r2.id}`)).body.isVerified, false);
    assert.equal((await server.api(tenant, `/caCertificates/${r1.id}`)).body.isVerified, false);
  });

  // --- verification ---
  const verifyTenant = newTenant('verify');
  let verifyCa: TestCertificate;
  let verifyResource: any;
  let verifyCode: string;

  before(async () => {
    verifyCa = await createCa({ subject: 'CN=Verify Me CA,O=Acme' });
    verifyResource = await uploadCaOk(server, verifyTenant, verifyCa);
    verifyCode = await registrationCodeOf(server, verifyTenant, verifyResource.id);
  });

  // Sends a verification body and asserts the refusal, and that the CA is exactly as before.
  const refuseVerify = async (body: unknown, status: number, errorCode: string, message?: RegExp) => {
    const before = await server.api(verifyTenant, `/caCertificates/${verifyResource.id}`);
    const answer = await rawRequest(server, `/caCertificates/${verifyResource.id}/verify`, {
      tenant: verifyTenant, method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const error = assertError(answer, status, errorCode, message);
    const afterwards = await server.api(verifyTenant, `/caCertificates/${verifyResource.id}`);
    assert.deepEqual(afterwards.body, before.body, 'a failed verify changes nothing');
    return { answer, error };
  };

  test('a wrong CN: 400 verification.registrationCodeMismatch showing the expected code and the CN found', async () => {
    const proof = await proofFor(verifyCa, 'not-the-code');
    const { error } = await refuseVerify({ verificationCertificate: proof.certificatePem }, 400, 'verification.registrationCodeMismatch');
    assert.ok(error.message.includes(verifyCode), `message shows the expected code: ${error.message}`);
    assert.ok(error.message.includes('not-the-code'), `message shows the CN found: ${error.message}`);
    assert.equal((await server.api(verifyTenant, `/caCertificates/${verifyResource.id}`)).body.isVerified, false);
  });

  test('no CN at all: 400 verification.registrationCodeMismatch', async () => {
    const proof = await issueCertificate(verifyCa, { subject: 'O=Acme' });
    const { error } = await refuseVerify({ verificationCertificate: proof.certificatePem }, 400, 'verification.registrationCodeMismatch');
    assert.ok(error.message.includes(verifyCode));
  });

  test('the right CN and issuer name but signed by another key: 400 verification.signatureMismatch', async () => {
    const impostor = await createCa({ subject: 'CN=Verify Me CA,O=Acme' });
    const proof = await proofFor(verifyCa, verifyCode, { signWith: impostor });
    await refuseVerify({ verificationCertificate: proof.certificatePem }, 400, 'verification.signatureMismatch', /another key.*private key/s);
  });

  test('issued by another CA: 400 verification.issuerMismatch', async () => {
    const other = await createCa({ subject: 'CN=Other CA' });
    const proof = await proofFor(other, verifyCode);
    const { error } = await refuseVerify({ verificationCertificate: proof.certificatePem }, 400, 'verification.issuerMismatch');
    assert.match(error.message, /Other CA/);
    assert.match(error.message, /Verify Me CA/);
  });

  test('an expired verification certificate: 400 verification.expired', async () => {
    const proof = await proofFor(verifyCa, verifyCode, { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2020-02-01T00:00:00Z') });
    await refuseVerify({ verificationCertificate: proof.certificatePem }, 400, 'verification.expired', /expired at 2020-02-01T00:00:00\.000Z/);
  });

  test('a verification certificate not valid yet: 400 verification.notYetValid', async () => {
    const proof = await proofFor(verifyCa, verifyCode, { notBefore: new Date(Date.now() + DAY_MS), notAfter: new Date(Date.now() + 2 * DAY_MS) });
    await refuseVerify({ verificationCertificate: proof.certificatePem }, 400, 'verification.notYetValid', /not valid before/);
  });

  test('a private key in the verify body: 400 pem.privateKeyIncluded, not echoed', async () => {
    const proof = await proofFor(verifyCa, verifyCode);
    const { answer } = await refuseVerify({ verificationCertificate: proof.certificatePem + proof.privateKeyPem }, 400, 'pem.privateKeyIncluded');
    assertNoKeyEcho(answer.text, proof.privateKeyPem);
    const withCaKey = await refuseVerify({ verificationCertificate: proof.certificatePem + verifyCa.privateKeyPem }, 400, 'pem.privateKeyIncluded');
    assertNoKeyEcho(withCaKey.answer.text, verifyCa.privateKeyPem);
  });

  test('verify: a chain, garbage, wrong types, over 64 KiB, text/plain: refused with their codes', async () => {
    const proof = await proofFor(verifyCa, verifyCode);
    await refuseVerify({ verificationCertificate: proof.certificatePem + verifyCa.certificatePem }, 400, 'pem.multipleCertificates');
    await refuseVerify({ verificationCertificate: 'garbage' }, 400, 'pem.invalid');
    await refuseVerify({ verificationCertificate: 5 }, 400, 'request.invalid', /verificationCertificate.*string/s);
    await refuseVerify({ verificationCertificate: {} }, 400, 'request.invalid');
    await refuseVerify({}, 400, 'request.invalid', /verificationCertificate/);
    await refuseVerify('{"verificationCertificate":', 400, 'request.malformedJson');
    await refuseVerify(JSON.stringify({ verificationCertificate: proof.certificatePem + ' '.repeat(70 * 1024) }), 413, 'request.bodyTooLarge');
    const plain = await rawRequest(server, `/caCertificates/${verifyResource.id}/verify`, {
      tenant: verifyTenant, method: 'POST', contentType: 'text/plain', body: JSON.stringify({ verificationCertificate: proof.certificatePem }),
    });
    assertError(plain, 415, 'request.unsupportedMediaType');
    assert.equal((await server.api(verifyTenant, `/caCertificates/${verifyResource.id}`)).body.isVerified, false);
  });

  test('another tenant\'s CA: 404 caCertificate.notFound, and the CA stays unverified', async () => {
    const proof = await proofFor(verifyCa, verifyCode);
    assertError(await verify(server, newTenant('intruder'), verifyResource.id, proof.certificatePem), 404, 'caCertificate.notFound');
    assert.equal((await server.api(verifyTenant, `/caCertificates/${verifyResource.id}`)).body.isVerified, false);
  });

  test('an unknown id: 404 caCertificate.notFound', async () => {
    const proof = await proofFor(verifyCa, verifyCode);
    assertError(await verify(server, verifyTenant, randomId(), proof.certificatePem), 404, 'caCertificate.notFound');
  });

  test('a valid X.509 v1 proof (openssl x509 -req) verifies: 200, isVerified true; repeating is idempotent', async () => {
    const proof = await proofFor(verifyCa, verifyCode, { version: 1 });
    const answer = await verify(server, verifyTenant, verifyResource.id, proof.certificatePem);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.id, verifyResource.id);
    assert.equal(answer.body.isVerified, true);
    assert.equal(answer.body.expiration, verifyResource.expiration);
    assert.equal(answer.body.name, verifyResource.name);
    if ('verifiedAt' in answer.body) assert.match(answer.body.verifiedAt, ISO_MS);

    const again = await verify(server, verifyTenant, verifyResource.id, (await proofFor(verifyCa, verifyCode)).certificatePem);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, answer.body, 'same resource, same verifiedAt');
    assert.deepEqual((await server.api(verifyTenant, `/caCertificates/${verifyResource.id}`)).body, answer.body);
    // The verifyCode stays readable after verification.
    assert.equal(await registrationCodeOf(server, verifyTenant, verifyResource.id), verifyCode);
  });

  test('a bad proof for an already verified CA is refused and leaves it verified', async () => {
    const proof = await proofFor(verifyCa, 'wrong');
    await refuseVerify({ verificationCertificate: proof.certificatePem }, 400, 'verification.registrationCodeMismatch');
    assert.equal((await server.api(verifyTenant, `/caCertificates/${verifyResource.id}`)).body.isVerified, true);
  });

  // --- one tenant per CA key ---
  test('a CA key verified in tenant A: tenant B gets 409 verification.keyVerifiedByOtherTenant; A stays verified; B may verify after A deletes', async () => {
    const tenantA = newTenant('key-a');
    const tenantB = newTenant('key-b');
    const ca = await createCa({ subject: 'CN=Shared Key CA' });
    const a = await uploadCaOk(server, tenantA, ca);
    const proofA = await proofFor(ca, await registrationCodeOf(server, tenantA, a.id));
    const verifiedA = await verify(server, tenantA, a.id, proofA.certificatePem);
    assert.equal(verifiedA.status, 200);

    // The same certificate in B (upload is allowed: duplicates are per tenant) ...
    const b = await uploadCaOk(server, tenantB, ca);
    const codeB = await registrationCodeOf(server, tenantB, b.id);
    assertError(await verify(server, tenantB, b.id, (await proofFor(ca, codeB)).certificatePem), 409,
      'verification.keyVerifiedByOtherTenant', /another tenant/);
    // ... and a re-issued certificate with the same key.
    const reissued = await createCa({ subject: 'CN=Shared Key CA reissued', keyPair: ca });
    const b2 = await uploadCaOk(server, tenantB, reissued);
    const codeB2 = await registrationCodeOf(server, tenantB, b2.id);
    assertError(await verify(server, tenantB, b2.id, (await proofFor(reissued, codeB2)).certificatePem), 409, 'verification.keyVerifiedByOtherTenant');

    assert.deepEqual((await server.api(tenantA, `/caCertificates/${a.id}`)).body, verifiedA.body, 'A is unchanged');
    assert.equal((await server.api(tenantB, `/caCertificates/${b.id}`)).body.isVerified, false);
    assert.equal((await server.api(tenantB, `/caCertificates/${b2.id}`)).body.isVerified, false);

    // One tenant at a time: once A lets go, B can take the key.
    assert.equal((await server.api(tenantA, `/caCertificates/${a.id}`, { method: 'DELETE' })).status, 204);
    const verifiedB = await verify(server, tenantB, b.id, (await proofFor(ca, codeB)).certificatePem);
    assert.equal(verifiedB.status, 200, JSON.stringify(verifiedB.body));
    assert.equal(verifiedB.body.isVerified, true);
  });

  // --- hostile input ---
  const fuzzTenant = newTenant('fuzz');
  let fuzzCa: TestCertificate;
  let fuzzIds: string[];

  before(async () => {
    fuzzCa = await createCa({ subject: 'CN=Fuzz CA' });
    fuzzIds = [(await uploadCaOk(server, fuzzTenant, fuzzCa)).id, (await uploadCaOk(server, fuzzTenant, await createCa())).id];
  });

  test('~200 random and hostile bodies to upload and verify: always 4xx with the error body, nothing changes', async () => {
    const before = await listOf(server, fuzzTenant);
    const random = prng(20240601);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const randomString = (max: number): string => {
      const alphabets = ['abcXYZ019', '-----BEGIN CERTIFICATE-----\n', 'äöü€😀\u0000\u202e\ud800\uffff', '\\n\\r\\u0000"\'<>{}[]', 'MIIB+/=AAAA'];
      const length = Math.floor(random() * max);
      let text = '';
      while (text.length < length) text += pick(alphabets)[Math.floor(random() * 12)] ?? 'x';
      return text;
    };
    const pem = fuzzCa.certificatePem;
    const pemBody = pem.split('\n').slice(1, -2).join('');
    const mutatedPem = (): string => {
      const chars = [...pem];
      for (let i = 0; i < 1 + Math.floor(random() * 4); i++) {
        const at = 28 + Math.floor(random() * (chars.length - 60));
        if (chars[at] !== '\n') chars[at] = pick([...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/']);
      }
      return chars.join('');
    };
    const randomValue = (depth: number): unknown => {
      switch (Math.floor(random() * (depth > 3 ? 6 : 9))) {
        case 0: return null;
        case 1: return random() < 0.5;
        case 2: return pick([0, -1, 1e308, -0, 3.14, Number.MAX_SAFE_INTEGER + 2]);
        case 3: return randomString(200);
        case 4: return pick([pem, mutatedPem(), `${pem}${pem}`, pemBody, `-----BEGIN CERTIFICATE-----\n${pemBody}`, pem.replace('CERTIFICATE', 'CERTIFICATE\n'), pem.toLowerCase()]);
        case 5: return '';
        case 6: return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1));
        default: {
          const object: Record<string, unknown> = {};
          for (let i = 0; i < Math.floor(random() * 4); i++) object[pick(['name', 'caCertificate', 'verificationCertificate', 'description', 'x', 'constructor'])] = randomValue(depth + 1);
          return object;
        }
      }
    };
    const hostileTexts: string[] = [
      '{"__proto__":{"isVerified":true},"name":"p","caCertificate":"x"}',
      '{"constructor":{"prototype":{"polluted":true}},"name":"p","caCertificate":"x"}',
      '{"name":"a","name":"b"}',
      `{"name":"${'a'.repeat(60_000)}","caCertificate":"x"}`,
      JSON.stringify({ name: 'deep', caCertificate: JSON.parse('['.repeat(500) + ']'.repeat(500)) }),
      '['.repeat(10_000) + ']'.repeat(10_000),
      '{"name":"x","caCertificate":"\\ud800"}',
      '\u0000',
      '{"name":"x","caCertificate":1e999}',
      `{"name":"x","caCertificate":"${'-----BEGIN CERTIFICATE-----'.repeat(2000)}"}`,
      `{"name":"x","caCertificate":"${'-----BEGIN A-----AAAA-----END A-----'.repeat(1500)}"}`,
      `{"name":"x","caCertificate":"-----BEGIN ${'A '.repeat(20_000)}"}`,
      '{"name":"x","verificationCertificate":"y"}',
      'true', '0', '[]', '{}', '""', 'nul', '{"a":}',
    ];
    const bodies: { text: string; contentType?: string }[] = hostileTexts.map((text) => ({ text }));
    while (bodies.length < 200) {
      const roll = random();
      if (roll < 0.6) bodies.push({ text: JSON.stringify(randomValue(0)) ?? 'null' });
      else if (roll < 0.8) {
        const body: Record<string, unknown> = { name: random() < 0.5 ? randomString(140) : randomValue(1), caCertificate: randomValue(1), verificationCertificate: randomValue(1) };
        bodies.push({ text: JSON.stringify(body) });
      } else if (roll < 0.9) bodies.push({ text: randomString(300) });
      else bodies.push({ text: JSON.stringify({ name: 'x', caCertificate: pem }), contentType: pick(['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/jsonx', '']) });
    }

    const failures: string[] = [];
    for (const [index, { text, contentType }] of bodies.entries()) {
      for (const path of ['/caCertificates', `/caCertificates/${fuzzIds[0]}/verify`]) {
        const answer = await rawRequest(server, path, { tenant: fuzzTenant, method: 'POST', body: text, ...(contentType === undefined ? {} : { contentType: contentType || null }) });
        const context = `#${index} ${path} ${JSON.stringify(text.slice(0, 120))}`;
        if (answer.status < 400 || answer.status >= 500) {
          failures.push(`${context} -> ${answer.status} ${answer.text.slice(0, 200)}`);
          continue;
        }
        try {
          assertErrorShape(answer, context);
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${bodies.length * 2} answers were not a 4xx error body`);
    const afterwards = await listOf(server, fuzzTenant);
    assert.deepEqual(afterwards, before, 'the tenant\'s list is unchanged');
    assert.ok(afterwards.every((resource) => resource.isVerified === false));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).isVerified, undefined);
  });

  const hostileIds = [
    ['300 characters', 'a'.repeat(300)],
    ['101 characters', 'b'.repeat(101)],
    ['encoded ../', '..%2F..%2Fetc%2Fpasswd'],
    ['unicode', '%E2%82%AC%F0%9F%98%80'],
    ['NUL', '%00'],
    ['SQL', encodeURIComponent("' OR '1'='1")],
    ['upper-case hex', 'ABCDEF0123456789ABCDEF01'],
  ] as const;
  for (const [label, id] of hostileIds) {
    test(`hostile id (${label}) in every path: 404 caCertificate.notFound with the error body`, async () => {
      const before = await listOf(server, fuzzTenant);
      const proof = (await proofFor(fuzzCa, 'x')).certificatePem;
      const calls = [
        { path: `/caCertificates/${id}`, method: 'GET' },
        { path: `/caCertificates/${id}`, method: 'DELETE' },
        { path: `/caCertificates/${id}/registrationCode`, method: 'GET' },
        { path: `/${id}/registrationCode`, method: 'GET' },
        { path: `/caCertificates/${id}/verify`, method: 'POST', body: JSON.stringify({ verificationCertificate: proof }) },
      ];
      for (const call of calls) {
        const answer = await rawRequest(server, call.path, { tenant: fuzzTenant, method: call.method, ...(call.body ? { body: call.body } : {}) });
        assert.equal(answer.status, 404, `${call.method} ${call.path.slice(0, 80)}: ${answer.status} ${answer.text.slice(0, 200)}`);
        assertError(answer, 404, 'caCertificate.notFound');
      }
      assert.deepEqual(await listOf(server, fuzzTenant), before);
    });
  }

  test('an undecodable percent-encoding in the id: a 4xx with the error body', async () => {
    const answer = await rawRequest(server, '/caCertificates/%ff', { tenant: fuzzTenant });
    assert.ok(answer.status >= 400 && answer.status < 500, `status ${answer.status}`);
    assertErrorShape(answer, `GET /caCertificates/%ff -> ${answer.text.slice(0, 200)}`);
  });
});
