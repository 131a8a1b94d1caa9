import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyObject, webcrypto } from 'node:crypto';
import { SignJWT, base64url, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { createCa } from '../support/test-pki.ts';
import { loadDevSigningKey, loadOrCreateDevSigningKey, mintDevToken, DEV_AUDIENCE, DEV_ISSUER, DEV_TOKEN_MAX_TTL_SECONDS, type DevSigningKey } from '../../src/auth/index.ts';
import {
  assertError, listOf, newTenant, proofFor, rawRequest, registrationCodeOf, uploadCaOk,
} from '../support/api-helpers.ts';

// Bearer tokens at the front door: every way a token can be missing, malformed, forged or
// insufficient answers 401/403 with its own auth.* code; an external identity provider's tokens
// work, and its outage is a 503, not a 500 and not the caller's fault (401).

const nowSeconds = () => Math.floor(Date.now() / 1000);

// A JWT signed with `key`, every claim overridable (undefined leaves a claim out).
const signToken = async (
  key: webcrypto.CryptoKey | KeyObject | Uint8Array,
  header: { alg: string; kid?: string | undefined },
  claims: JWTPayload,
): Promise<string> => new SignJWT(Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined)))
  .setProtectedHeader({ ...header, typ: 'JWT' })
  .sign(key);

const bearer = (token: string) => `Bearer ${token}`;

// A fake external identity provider.
const ISSUER = 'https://idp.example.test/';
const AUDIENCE = 'trustgate-api';

interface FakeIdp {
  readonly url: string;
  mode: 'ok' | 'error' | 'not-json';
  jwks: { keys: JWK[] };
  requests: number;
  close(): Promise<void>;
}

// A JWKS endpoint on 127.0.0.1 whose answers the test controls.
const startIdp = async (jwks: { keys: JWK[] }): Promise<FakeIdp> => {
  const idp = { mode: 'ok', jwks, requests: 0 } as FakeIdp;
  const http: Server = createServer((request, response) => {
    idp.requests++;
    if (request.url !== '/jwks.json') return void response.writeHead(404).end();
    if (idp.mode === 'error') return void response.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
    if (idp.mode === 'not-json') return void response.writeHead(200, { 'content-type': 'application/json' }).end('<html>maintenance</html>');
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(idp.jwks));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  assert.ok(address && typeof address === 'object');
  Object.assign(idp, {
    url: `http://127.0.0.1:${address.port}/jwks.json`,
    close: () => new Promise<void>((resolve) => { http.closeAllConnections(); http.close(() => resolve()); }),
  });
  return idp;
};

const externalEnv = (idp: { url: string }, extra: Record<string, string> = {}) =>
  ({ TRUSTGATE_JWKS_URL: idp.url, TRUSTGATE_JWT_ISSUER: ISSUER, TRUSTGATE_JWT_AUDIENCE: AUDIENCE, ...extra });

for (const dialect of testDialects) describeOn(dialect)(`Bearer tokens, dev issuer and external identity provider (REST API) [${dialect}]`, () => {
  let server: TestServer;
  let devKey: DevSigningKey;
  const tenant = newTenant('tok');
  let caResource: any;
  let caProof: string;

  const devClaims = (overrides: JWTPayload = {}): JWTPayload => ({
    iss: DEV_ISSUER, aud: DEV_AUDIENCE, sub: 'tester', ten: tenant, scope: 'mcmqtt.admin',
    iat: nowSeconds(), exp: nowSeconds() + 600, ...overrides,
  });
  const devToken = (overrides: JWTPayload = {}) =>
    signToken(devKey.privateKey, { alg: 'ES256', kid: devKey.publicJwk.kid }, devClaims(overrides));

  const list = (authorization: string | null) => rawRequest(server, '/caCertificates', { authorization });

  before(async () => {
    server = await startTestServer({}, { dialect });
    const key = await loadDevSigningKey(server.dataDir);
    assert.ok(key, 'the dev key is in the data dir');
    devKey = key;
    const ca = await createCa();
    caResource = await uploadCaOk(server, tenant, ca);
    caProof = (await proofFor(ca, await registrationCodeOf(server, tenant, caResource.id))).certificatePem;
  });
  after(async () => { await server?.close(); });

  test('a well-formed dev token works (control)', async () => {
    const answer = await list(bearer(await devToken()));
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body, [caResource]);
  });

  test('no Authorization header: 401 auth.tokenMissing', async () => {
    assertError(await list(null), 401, 'auth.tokenMissing', /Authorization: Bearer/);
  });

  test('the Basic scheme: 401 auth.tokenInvalid', async () => {
    assertError(await list(`Basic ${Buffer.from('user:password').toString('base64')}`), 401, 'auth.tokenInvalid', /Bearer/);
  });

  test('a malformed JWT: 401 auth.tokenInvalid', async () => {
    for (const value of ['Bearer', 'Bearer ', 'Bearer abc', 'Bearer a.b.c', 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.', `Bearer ${'x'.repeat(5000)}`, 'Bearer tok en']) {
      assertError(await list(value), 401, 'auth.tokenInvalid');
    }
  });

  test('the scheme is case-insensitive (RFC 7235 §2.1): "bearer <token>" is accepted', async () => {
    const answer = await list(`bearer ${await devToken()}`);
    assert.equal(answer.status, 200, answer.text);
  });

  test('an expired token: 401 auth.tokenExpired', async () => {
    const token = await devToken({ iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 });
    assertError(await list(bearer(token)), 401, 'auth.tokenExpired', /expired/);
  });

  test('a dev token without exp (valid for ever): 401 auth.tokenInvalid naming the missing exp', async () => {
    assertError(await list(bearer(await devToken({ exp: undefined }))), 401, 'auth.tokenInvalid', /"exp"/);
  });

  test('a dev token issued for longer than 7 days (a year, or a year back-dated): 401 auth.tokenInvalid; 7 days is fine', async () => {
    const year = 366 * 86_400;
    assertError(await list(bearer(await devToken({ exp: nowSeconds() + year }))), 401, 'auth.tokenInvalid', /longer than/);
    assertError(await list(bearer(await devToken({ iat: nowSeconds() - year, exp: nowSeconds() + 600 }))), 401, 'auth.tokenInvalid', /longer than/);
    assertError(await list(bearer(await devToken({ iat: undefined, exp: nowSeconds() + year }))), 401, 'auth.tokenInvalid', /longer than/);
    assert.equal((await list(bearer(await devToken({ exp: nowSeconds() + DEV_TOKEN_MAX_TTL_SECONDS })))).status, 200);
    await assert.rejects(mintDevToken(devKey, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: year }), /at most 7 days/);
  });

  test('a dev token that dodges the lifetime cap (iat dated a year ahead, exp at the end of time, exp as a string): 401 auth.tokenInvalid', async () => {
    const year = 366 * 86_400;
    assertError(await list(bearer(await devToken({ iat: nowSeconds() + year, exp: nowSeconds() + year + 600 }))), 401, 'auth.tokenInvalid', /longer than/);
    assertError(await list(bearer(await devToken({ exp: Number.MAX_SAFE_INTEGER }))), 401, 'auth.tokenInvalid', /longer than/);
    assertError(await list(bearer(await devToken({ exp: String(nowSeconds() + 600) } as unknown as JWTPayload))), 401, 'auth.tokenInvalid');
  });

  test('a token not valid yet (nbf in the future): 401 auth.tokenExpired', async () => {
    const token = await devToken({ nbf: nowSeconds() + 3600 });
    assertError(await list(bearer(token)), 401, 'auth.tokenExpired', /not valid yet/);
  });

  test('a token signed by another key: 401 auth.tokenInvalid (same kid, other kid, another data dir\'s dev key)', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    assertError(await list(bearer(await signToken(privateKey, { alg: 'ES256', kid: devKey.publicJwk.kid }, devClaims()))), 401, 'auth.tokenInvalid', /signature/);
    assertError(await list(bearer(await signToken(privateKey, { alg: 'ES256', kid: 'someone-else' }, devClaims()))), 401, 'auth.tokenInvalid');
    assertError(await list(bearer(await signToken(privateKey, { alg: 'ES256' }, devClaims()))), 401, 'auth.tokenInvalid');
    const otherDir = await mkdtemp(join(tmpdir(), 'trustgate-other-'));
    try {
      const otherKey = await loadOrCreateDevSigningKey(otherDir);
      const token = await mintDevToken(otherKey, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: 600 });
      // The usual cause (a `trustgate token` run against another data dir) is named, with its remedy.
      assertError(await list(bearer(token)), 401, 'auth.tokenInvalid',
        /signature does not verify with this server's dev issuer key \(was it minted from another TRUSTGATE_DATA_DIR than the server's\?\)\. Mint one with "trustgate token --tenant <tenant>" where TRUSTGATE_DATA_DIR is this server's data dir\.$/);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  test('an alg "none" token: 401 auth.tokenInvalid', async () => {
    const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
    for (const alg of ['none', 'None', 'NONE']) {
      const token = `${encode({ alg, typ: 'JWT' })}.${encode(devClaims())}.`;
      assertError(await list(bearer(token)), 401, 'auth.tokenInvalid');
    }
  });

  test('an HS256 token signed with the public key as secret: 401 auth.tokenInvalid', async () => {
    const secrets = [
      new TextEncoder().encode(JSON.stringify(devKey.publicJwk)),
      new TextEncoder().encode(KeyObject.from(await webcrypto.subtle.importKey('jwk', devKey.publicJwk as webcrypto.JsonWebKey, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']))
        .export({ type: 'spki', format: 'pem' }).toString()),
    ];
    for (const secret of secrets) {
      const token = await signToken(secret, { alg: 'HS256', kid: devKey.publicJwk.kid }, devClaims());
      assertError(await list(bearer(token)), 401, 'auth.tokenInvalid');
    }
  });

  test('the dev issuer\'s key but the wrong issuer or audience: 401 auth.tokenInvalid', async () => {
    assertError(await list(bearer(await devToken({ iss: 'https://evil.example' }))), 401, 'auth.tokenInvalid', /iss/);
    assertError(await list(bearer(await devToken({ aud: 'urn:other-service' }))), 401, 'auth.tokenInvalid', /aud/);
    assertError(await list(bearer(await devToken({ iss: undefined }))), 401, 'auth.tokenInvalid');
  });

  test('a token without a usable ten claim: 401 auth.tenantInvalid', async () => {
    for (const ten of [undefined, 'Acme', 'a_b', 'a/b', '', '-acme', 'a+b', 'a#b', 'x'.repeat(64), 5, ['acme'], { id: 'acme' }, null]) {
      const token = await devToken({ ten: ten as string });
      assertError(await list(bearer(token)), 401, 'auth.tenantInvalid', /ten/);
    }
  });

  test('a read-only token (mcmqtt.read) can GET but gets 403 auth.scopeMissing on POST, DELETE and verify', async () => {
    const token = bearer(await devToken({ scope: 'mcmqtt.read' }));
    const before = await listOf(server, tenant);
    assert.equal((await list(token)).status, 200);
    assert.equal((await rawRequest(server, `/caCertificates/${caResource.id}`, { authorization: token })).status, 200);
    assert.equal((await rawRequest(server, `/caCertificates/${caResource.id}/registrationCode`, { authorization: token })).status, 200);
    assert.equal((await rawRequest(server, `/${caResource.id}/registrationCode`, { authorization: token })).status, 200);

    const upload = await rawRequest(server, '/caCertificates', {
      authorization: token, method: 'POST', body: JSON.stringify({ name: 'ro', caCertificate: (await createCa()).certificatePem }),
    });
    assertError(upload, 403, 'auth.scopeMissing', /mcmqtt\.admin/);
    assertError(await rawRequest(server, `/caCertificates/${caResource.id}`, { authorization: token, method: 'DELETE' }), 403, 'auth.scopeMissing', /mcmqtt\.admin/);
    const verify = await rawRequest(server, `/caCertificates/${caResource.id}/verify`, {
      authorization: token, method: 'POST', body: JSON.stringify({ verificationCertificate: caProof }),
    });
    assertError(verify, 403, 'auth.scopeMissing', /mcmqtt\.admin/);
    assert.deepEqual(await listOf(server, tenant), before, 'nothing changed');
    assert.equal(before[0].isVerified, false);
  });

  test('a token without mcmqtt scopes: 403 auth.scopeMissing even for GET', async () => {
    for (const scope of [undefined, '', 'openid profile', ['openid'], 'mcmqtt.readx', 'MCMQTT.ADMIN']) {
      assertError(await list(bearer(await devToken({ scope: scope as string }))), 403, 'auth.scopeMissing', /mcmqtt\.read/);
    }
  });

  test('the scope claim as an array or a space-separated string works', async () => {
    const arrayAdmin = bearer(await devToken({ scope: ['openid', 'mcmqtt.admin'] as unknown as string }));
    const answer = await rawRequest(server, '/caCertificates', {
      authorization: arrayAdmin, method: 'POST', body: JSON.stringify({ name: 'array scope', caCertificate: (await createCa()).certificatePem }),
    });
    assert.equal(answer.status, 201, answer.text);
    assert.equal((await list(bearer(await devToken({ scope: ['mcmqtt.read'] as unknown as string })))).status, 200);
    assert.equal((await list(bearer(await devToken({ scope: 'openid  mcmqtt.read profile' })))).status, 200);
    const arrayRead = bearer(await devToken({ scope: ['mcmqtt.read'] as unknown as string }));
    assertError(await rawRequest(server, `/caCertificates/${answer.body.id}`, { authorization: arrayRead, method: 'DELETE' }), 403, 'auth.scopeMissing');
  });

  test('the token is checked before the body: no token + bad or huge body is 401, read-only + bad body is 403', async () => {
    const garbage = await rawRequest(server, '/caCertificates', { authorization: null, method: 'POST', body: '{not json' });
    assertError(garbage, 401, 'auth.tokenMissing');
    const huge = await rawRequest(server, '/caCertificates', { authorization: 'Bearer a.b.c', method: 'POST', body: JSON.stringify({ name: 'x'.repeat(100_000) }) });
    assertError(huge, 401, 'auth.tokenInvalid');
    const readOnly = bearer(await devToken({ scope: 'mcmqtt.read' }));
    assertError(await rawRequest(server, '/caCertificates', { authorization: readOnly, method: 'POST', body: '{not json' }), 403, 'auth.scopeMissing');
  });

  test('error answers never echo the token', async () => {
    const token = await devToken({ ten: 'Not_A_Tenant' });
    const answer = await list(bearer(token));
    assertError(answer, 401, 'auth.tenantInvalid');
    assert.ok(!answer.text.includes(token));
    assert.ok(!answer.text.includes(token.split('.')[2]!));
  });

  test('GET /.well-known/jwks.json publishes the dev issuer\'s public key (no "d") and it verifies dev tokens; beside it the agent token key (issue 19)', async () => {
    const answer = await rawRequest(server, '/.well-known/jwks.json', { base: 'root', authorization: null });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.keys.length, 2);
    const [jwk, agentJwk] = answer.body.keys as JWK[];
    assert.match(String(agentJwk!.kid), /^agent-[0-9a-f]{16}$/);
    assert.equal('d' in agentJwk!, false);
    assert.equal(jwk!.kty, 'EC');
    assert.equal(jwk!.crv, 'P-256');
    assert.equal(jwk!.kid, devKey.publicJwk.kid);
    assert.equal('d' in jwk!, false, 'no private part');
    assert.ok(!answer.text.includes('"d"'));
    const { payload } = await jwtVerify(await server.token(tenant), createLocalJWKSet(answer.body), { issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
    assert.equal(payload.ten, tenant);
  });

  // --- external identity provider: a second app instance started with TRUSTGATE_JWKS_URL ---
  let rsa: { privateKey: webcrypto.CryptoKey; publicJwk: JWK };
  let idp: FakeIdp;
  let idpServer: TestServer;
  let dataDir: string;
  const idpTenant = newTenant('idp');
  const others: { close(): Promise<void> }[] = [];

  const idpToken = (claims: JWTPayload = {}, kid = 'idp-key-1', key: webcrypto.CryptoKey = rsa.privateKey) => signToken(key, { alg: 'RS256', kid }, {
    iss: ISSUER, aud: AUDIENCE, sub: 'user@idp', ten: idpTenant, scope: ['mcmqtt.admin'] as unknown as string,
    iat: nowSeconds(), exp: nowSeconds() + 600, ...claims,
  });

  before(async () => {
    const pair = await generateKeyPair('RS256');
    rsa = { privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' } };
    idp = await startIdp({ keys: [rsa.publicJwk] });
    // A data dir that still holds a dev key from before the operator switched to the IdP.
    dataDir = await mkdtemp(join(tmpdir(), 'trustgate-idp-'));
    await loadOrCreateDevSigningKey(dataDir);
    idpServer = await startTestServer(externalEnv(idp, { TRUSTGATE_DATA_DIR: dataDir }), { dialect });
  });
  after(async () => {
    await idpServer?.close();
    await idp?.close();
    for (const other of others) await other.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('IdP: tokens from the identity provider are accepted for reads and writes', async () => {
    const token = bearer(await idpToken());
    const listed = await rawRequest(idpServer, '/caCertificates', { authorization: token });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.body, []);
    const created = await rawRequest(idpServer, '/caCertificates', {
      authorization: token, method: 'POST', body: JSON.stringify({ name: 'from idp', caCertificate: (await createCa()).certificatePem }),
    });
    assert.equal(created.status, 201, created.text);
    assert.ok(idp.requests >= 1, 'the JWKS was fetched from the IdP');
  });

  test('IdP: a token without exp (valid for ever): 401 auth.tokenInvalid naming the missing exp; a long-lived one is the IdP\'s choice', async () => {
    assertError(await rawRequest(idpServer, '/caCertificates', { authorization: bearer(await idpToken({ exp: undefined })) }), 401, 'auth.tokenInvalid', /"exp"/);
    const yearLong = await rawRequest(idpServer, '/caCertificates', { authorization: bearer(await idpToken({ exp: nowSeconds() + 366 * 86_400 })) });
    assert.equal(yearLong.status, 200, yearLong.text);
  });

  test('IdP: wrong issuer, wrong audience: 401 auth.tokenInvalid', async () => {
    assertError(await rawRequest(idpServer, '/caCertificates', { authorization: bearer(await idpToken({ iss: 'https://other-idp.example/' })) }), 401, 'auth.tokenInvalid', /iss/);
    assertError(await rawRequest(idpServer, '/caCertificates', { authorization: bearer(await idpToken({ aud: 'another-api' })) }), 401, 'auth.tokenInvalid', /aud/);
  });

  test('IdP: a dev-issuer token is refused once an identity provider is configured: 401 auth.tokenInvalid', async () => {
    const devKey = await loadDevSigningKey(dataDir);
    assert.ok(devKey);
    const token = await mintDevToken(devKey, { tenant: idpTenant, scopes: ['mcmqtt.admin'], ttlSeconds: 600 });
    assertError(await rawRequest(idpServer, '/caCertificates', { authorization: bearer(token) }), 401, 'auth.tokenInvalid');
  });

  test('IdP: a token for the IdP\'s kid but signed by another key, or HS256 with the public JWK: 401 auth.tokenInvalid', async () => {
    const other = await generateKeyPair('RS256');
    const forged = assertError(await rawRequest(idpServer, '/caCertificates', { authorization: bearer(await idpToken({}, 'idp-key-1', other.privateKey)) }), 401, 'auth.tokenInvalid',
      /signature does not verify with a trusted key\. Get a new token from your identity provider\.$/);
    assert.doesNotMatch(forged.message, /TRUSTGATE_DATA_DIR|trustgate token/, 'the dev issuer\'s remedy is not an IdP user\'s');
    const hs = await signToken(new TextEncoder().encode(JSON.stringify(rsa.publicJwk)), { alg: 'HS256', kid: 'idp-key-1' }, {
      iss: ISSUER, aud: AUDIENCE, ten: idpTenant, scope: 'mcmqtt.admin', exp: nowSeconds() + 600,
    });
    assertError(await rawRequest(idpServer, '/caCertificates', { authorization: bearer(hs) }), 401, 'auth.tokenInvalid');
  });

  test('IdP: with an identity provider, /.well-known/jwks.json publishes no dev key, only the agent token key (issue 19)', async () => {
    const answer = await rawRequest(idpServer, '/.well-known/jwks.json', { base: 'root', authorization: null });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.keys.map((key: JWK) => /^agent-/.test(String(key.kid))), [true]);
  });

  test('IdP down (server closed; a new kid needs a fresh JWKS): 503 auth.identityProviderUnavailable, not 500', async () => {
    const downIdp = await startIdp({ keys: [rsa.publicJwk] });
    const downServer = await startTestServer(externalEnv(downIdp), { dialect });
    others.push(downServer);
    await downIdp.close();
    const answer = await rawRequest(downServer, '/caCertificates', { authorization: bearer(await idpToken({}, 'idp-key-2')) });
    assertError(answer, 503, 'auth.identityProviderUnavailable', /identity provider/);
  });

  test('IdP answers 500 for its JWKS: 503 auth.identityProviderUnavailable, not 401', async () => {
    const brokenIdp = await startIdp({ keys: [rsa.publicJwk] });
    others.push(brokenIdp);
    brokenIdp.mode = 'error';
    const brokenServer = await startTestServer(externalEnv(brokenIdp), { dialect });
    others.push(brokenServer);
    const answer = await rawRequest(brokenServer, '/caCertificates', { authorization: bearer(await idpToken()) });
    assertError(answer, 503, 'auth.identityProviderUnavailable');
    assert.ok(brokenIdp.requests >= 1);
  });

  test('IdP answers a non-JSON page for its JWKS: 503 auth.identityProviderUnavailable, not 401', async () => {
    const brokenIdp = await startIdp({ keys: [rsa.publicJwk] });
    others.push(brokenIdp);
    brokenIdp.mode = 'not-json';
    const brokenServer = await startTestServer(externalEnv(brokenIdp), { dialect });
    others.push(brokenServer);
    const answer = await rawRequest(brokenServer, '/caCertificates', { authorization: bearer(await idpToken()) });
    assertError(answer, 503, 'auth.identityProviderUnavailable');
  });

  test('IdP: the running server keeps accepting known-kid tokens while the JWKS is cached', async () => {
    const answer = await rawRequest(idpServer, '/caCertificates', { authorization: bearer(await idpToken()) });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.length, 1);
  });
});
