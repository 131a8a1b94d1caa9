import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { rawRequest } from '../support/api-helpers.ts';

// Swagger UI next to the OpenAPI document: public like the document, under the plugin's strict CSP
// (scripts only from 'self', nothing inline), and nothing else becomes public with it.

describe('Swagger UI at /api/mindconnectmqtt/v3/docs (REST API)', () => {
  let server: TestServer;

  before(async () => { server = await startTestServer(); });
  after(async () => { await server?.close(); });

  const page = (path: string) => rawRequest(server, path, { authorization: null });

  test('the page is served without a token, with a CSP that allows only its own scripts and styles', async () => {
    const answer = await page('/docs/');
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(answer.text, /<div id="swagger-ui">/);
    const csp = answer.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self' ?;/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(csp, /upgrade-insecure-requests/, 'a browser on plain http://localhost keeps loading the assets over http');
    assert.doesNotMatch(answer.text, /<script>(?!\s*<\/script>)/, 'no inline script: every <script> has a src');
    for (const [, src] of answer.text.matchAll(/<script src="([^"]+)"/g)) {
      const asset = await fetch(new URL(src!, `${server.apiUrl}/docs/`));
      assert.equal(asset.status, 200, src);
      assert.match(asset.headers.get('content-type') ?? '', /javascript/, src);
      await asset.arrayBuffer();
    }
  });

  test('the UI reads the same OpenAPI document as /openapi.json, and the document does not list the UI\'s own routes', async () => {
    const shown = await page('/docs/json');
    const document = await page('/openapi.json');
    assert.equal(shown.status, 200);
    assert.deepEqual(Object.keys(shown.body.paths).sort(), Object.keys(document.body.paths).sort());
    assert.ok(!Object.keys(document.body.paths).some((path) => path.includes('/docs')));
  });

  test('only reads are public: other methods under /docs are unknown routes, the API still needs a token, and no file outside the UI is served', async () => {
    assert.equal((await rawRequest(server, '/docs/json', { method: 'POST', body: '{}', authorization: null })).status, 404);
    assert.equal((await page('/caCertificates')).status, 401);
    // A raw path (fetch would normalise the dots away).
    const traversal = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(server.apiUrl);
      request({ host: url.hostname, port: url.port, path: `${url.pathname}/docs/static/../../../../../package.json` }, (response) => {
        let body = '';
        response.on('data', (chunk) => { body += chunk; }).on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      }).on('error', reject).end();
    });
    assert.notEqual(traversal.status, 200);
    assert.doesNotMatch(traversal.body, /"name": "trustgate"/);
  });

  test('no path trick under /docs reaches a protected route without a token (raw request lines, GET and HEAD)', async () => {
    // The UI's routes are public by their registered path, so only a request the router matches to
    // one of them is let through; each of these must end up at a 4xx without protected content.
    const { connect } = await import('node:net');
    const port = Number(new URL(server.url).port);
    const raw = (line: string): Promise<string> => new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`));
      let answer = '';
      socket.on('data', (chunk) => { answer += chunk; }).on('end', () => resolve(answer)).on('error', reject);
    });
    const base = '/api/mindconnectmqtt/v3';
    const tricks = [
      '/docs/..%2fcaCertificates', '/docs/%2e%2e/caCertificates', '/docs/../caCertificates', '/docs%2f..%2fcaCertificates', '/docs;/caCertificates',
      '/caCertificates;docs', '/DOCS/', '/Docs/json', '/docsX', '/docs-something', '/docs//', '//docs/json', '/docs/static/%2e%2e%2f%2e%2e%2fpackage.json',
      '/docs/static/..%5c..%5cpackage.json', '/docs/static/../../../../package.json', '/docs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/metrics', '/docs/static/%00',
      '/caCertificates?x=/docs', '/agents#/docs',
    ];
    for (const trick of tricks) {
      for (const method of ['GET', 'HEAD']) {
        const answer = await raw(`${method} ${base}${trick} HTTP/1.1`);
        const status = Number(answer.split(' ')[1]);
        assert.ok(status >= 400 && status < 500, `${method} ${trick}: ${answer.split('\r\n')[0]}`);
        assert.doesNotMatch(answer, /"name": "trustgate"|trustgate_|"totalElements"|"content":\[/, `${method} ${trick}`);
      }
    }
  });
});

