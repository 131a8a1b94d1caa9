import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { newTenant, rawRequest, type ApiAnswer } from '../support/api-helpers.ts';
import { createCa } from '../support/test-pki.ts';

// @fastify/helmet on the API (issue 17): every answer, success or error, with or without a token,
// carries the headers that keep a browser from running, framing or sniffing it; every answer to an
// authenticated call is no-store, the ones with secrets first; no HSTS over plain HTTP.

const API_CSP = "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'";

const assertApiHeaders = (answer: ApiAnswer, what: string): void => {
  const header = (name: string) => answer.headers.get(name);
  assert.equal(header('x-content-type-options'), 'nosniff', what);
  assert.equal(header('referrer-policy'), 'no-referrer', what);
  assert.equal(header('x-powered-by'), null, what);
  assert.equal(header('strict-transport-security'), null, `${what}: no HSTS over plain HTTP`);
  assert.equal(header('content-security-policy'), API_CSP, what);
  assert.equal(header('x-frame-options'), 'DENY', what);
  assert.equal(header('cross-origin-opener-policy'), 'same-origin', what);
};

describe('security headers on the API (REST API)', () => {
  let server: TestServer;
  const tenant = newTenant('sh');

  before(async () => { server = await startTestServer(); });
  after(async () => { await server?.close(); });

  test('JSON answers of every kind carry them: success, 401, 404, 400', async () => {
    const answers: [string, ApiAnswer][] = [
      ['GET /caCertificates', await rawRequest(server, '/caCertificates', { tenant })],
      ['401', await rawRequest(server, '/caCertificates', { authorization: null })],
      ['unknown route', await rawRequest(server, '/nope', { tenant })],
      ['400', await rawRequest(server, '/caCertificates', { tenant, body: '{"name": 5}' })],
      ['openapi.json', await rawRequest(server, '/openapi.json', { authorization: null })],
      ['healthz', await rawRequest(server, '/healthz', { authorization: null, base: 'root' })],
    ];
    for (const [what, answer] of answers) assertApiHeaders(answer, what);
    assert.equal(answers[0]![1].status, 200);
    assert.equal(answers[1]![1].status, 401);
  });

  test('answers with secrets are no-store: the agent certificate with its private key, the registration code', async () => {
    const created = await rawRequest(server, '/agentCertificates', { tenant, body: JSON.stringify({ name: 'secret-agent' }) });
    assert.equal(created.status, 201, created.text);
    assert.match(created.body.privateKey, /PRIVATE KEY/);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    assertApiHeaders(created, 'POST /agentCertificates');

    const ca = await createCa();
    const uploaded = await rawRequest(server, '/caCertificates', { tenant, body: JSON.stringify({ name: 'sh-ca', caCertificate: ca.certificatePem }) });
    assert.equal(uploaded.status, 201, uploaded.text);
    const code = await rawRequest(server, `/caCertificates/${uploaded.body.id}/registrationCode`, { tenant });
    assert.equal(code.status, 200);
    assert.equal(code.headers.get('cache-control'), 'no-store');
    // Every tenant's data is private: lists too.
    assert.equal((await rawRequest(server, '/agents', { tenant })).headers.get('cache-control'), 'no-store');
    // The public, unchanging ones keep what they say about caching.
    assert.notEqual((await rawRequest(server, '/openapi.json', { authorization: null })).headers.get('cache-control'), 'no-store');
  });

  test('Swagger UI keeps its own CSP (hashes of its inline script and style) and gets the other headers', async () => {
    const page = await rawRequest(server, '/docs/', { authorization: null });
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /^default-src 'self'/, 'one CSP, Swagger UI\'s, not the API\'s default-src \'none\'');
    assert.doesNotMatch(csp, /default-src 'none'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('strict-transport-security'), null);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  });
});
