import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { newTenant } from '../support/api-helpers.ts';
import { openEventStream, type EventStreamClient } from '../support/event-stream-client.ts';
import { waitUntil } from '../support/wait-until.ts';
import { REPO_ROOT } from '../support/spawn-server.ts';

// A review of issue 17 from outside (review/issue17): what a hostile browser page, a curious
// client or a careless reader can do to the console's files, the headers around them and the
// agent event stream. fetch() normalises "..", "%2e%2e" and "\" before it sends a request, so the
// path attacks go over a raw socket, byte for byte as written here.

const EVENT_MS = 6_000;

/** One HTTP/1.1 request written as is (no URL normalisation); the status line, headers and body. */
const rawHttp = (port: number, request: string): Promise<{ status: number; head: string; body: string }> => new Promise((resolve, reject) => {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.setTimeout(5_000, () => socket.destroy(new Error('raw request timed out')));
  socket.on('data', (chunk) => chunks.push(chunk));
  socket.on('error', reject);
  socket.on('end', () => {
    const text = Buffer.concat(chunks).toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), head: text.slice(0, split), body: text.slice(split + 4) });
  });
  socket.write(request);
});

describe('the console and its stream under attack', () => {
  let server: TestServer;
  let port: number;
  const streams: EventStreamClient[] = [];
  before(async () => {
    server = await startTestServer();
    port = Number(new URL(server.url).port);
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await server?.close();
  });

  test('path traversal over a raw socket: ".." in every encoding, backslashes, NUL, doubled slashes, a case change: 404, and no file from outside console/', async () => {
    const packageJson = await readFile(`${REPO_ROOT}/package.json`, 'utf8');
    const secretMarker = /"devDependencies"|"name": "trustgate"|BEGIN|dev-token-signing-key/;
    const paths = [
      '/console/../package.json', '/console/js/../../package.json', '/console/%2e%2e/package.json', '/console/%2E%2E/package.json',
      '/console/.%2e/package.json', '/console/js/%2e%2e%2f%2e%2e%2fpackage.json', '/console/..%2fpackage.json', '/console/..%5cpackage.json',
      '/console/..\\package.json', '/console/%252e%252e/package.json', '/console/%c0%ae%c0%ae/package.json', '/console/js/app.js%00.json',
      '/console//etc/passwd', '/console/%2fetc%2fpasswd', '/console/JS/APP.JS', '/console/js/', '/console/js', '/console/.git/config',
      '/console/../src/app/start-app.ts', '/console/../../../../etc/passwd',
    ];
    for (const path of paths) {
      const answer = await rawHttp(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      assert.ok([400, 404].includes(answer.status), `${path}: ${answer.status}`);
      assert.doesNotMatch(answer.body, secretMarker, path);
      assert.ok(!answer.body.includes(packageJson.slice(0, 40)), path);
      // Even the refusal is a console answer with the console's headers, or the API's.
      assert.match(answer.head, /content-security-policy: [^\r]*frame-ancestors 'none'/i, path);
    }
    // Positive control: the same socket code does read a console file.
    const served = await rawHttp(port, 'GET /console/js/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    assert.equal(served.status, 200);
    assert.match(served.body, /takeTokenFromUrl/);
  });

  test('no route answers with CORS headers, to a simple request or a preflight from another origin', async () => {
    const token = await server.token(newTenant('cors'));
    const paths = ['/console/', '/console/js/app.js', '/console/missing', '/api/mindconnectmqtt/v3/caCertificates', '/api/mindconnectmqtt/v3/agents/events',
      '/api/mindconnectmqtt/v3/agentCertificates', '/api/mindconnectmqtt/v3/docs/', '/api/mindconnectmqtt/v3/openapi.json', '/broker-ca.pem', '/broker.json',
      '/.well-known/jwks.json', '/healthz', '/readyz', '/metrics', '/nowhere'];
    for (const path of paths) {
      for (const method of ['GET', 'OPTIONS']) {
        const controller = new AbortController();
        const response = await fetch(`${server.url}${path}`, {
          method, signal: controller.signal, redirect: 'manual',
          headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization', authorization: `Bearer ${token}` },
        });
        const cors = [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));
        assert.deepEqual(cors, [], `${method} ${path}`);
        controller.abort();
        await response.arrayBuffer().catch(() => undefined);
      }
    }
  });

  test('clickjacking: the console and the API may not be framed by anyone (frame-ancestors \'none\' and X-Frame-Options DENY)', async () => {
    for (const path of ['/console/', '/console/js/app.js', '/console/missing', '/api/mindconnectmqtt/v3/caCertificates', '/nowhere', '/broker-ca.pem']) {
      const response = await fetch(`${server.url}${path}`);
      await response.arrayBuffer();
      assert.match(response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, path);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
    }
  });

  test('the stream: OPTIONS and HEAD open nothing; a foreign tenant\'s token sees only its own (empty) list', async () => {
    const tenant = newTenant('sa');
    const token = await server.token(tenant);
    for (const method of ['OPTIONS', 'HEAD']) {
      const response = await fetch(`${server.apiUrl}/agents/events`, { method, headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 404, method);
      assert.notEqual(response.headers.get('content-type'), 'text/event-stream');
      await response.arrayBuffer();
    }
    // Ten streams still open after the attempts above: they took no place.
    const opened = await Promise.all(Array.from({ length: 10 }, () => openEventStream(`${server.apiUrl}/agents/events`, token)));
    streams.push(...opened);
    assert.deepEqual(opened.map((stream) => stream.status), Array(10).fill(200));
    for (const stream of opened) stream.close();
  });

  test('readers that vanish (socket destroyed mid-stream, no FIN) and streams whose token expired give their places back: 10 + 10 + 10 opens on one tenant', async () => {
    const tenant = newTenant('sl');
    const openAll = async (token: string): Promise<EventStreamClient[]> => {
      const opened = await Promise.all(Array.from({ length: 10 }, () => openEventStream(`${server.apiUrl}/agents/events`, token)));
      streams.push(...opened);
      return opened;
    };
    // Raw sockets destroyed after the first event: the server sees a reset, not a polite close.
    const sockets = await Promise.all(Array.from({ length: 10 }, async () => {
      const token = await server.token(tenant);
      return new Promise<ReturnType<typeof connect>>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let seen = '';
        socket.on('data', (chunk) => {
          seen += chunk.toString('latin1');
          if (seen.includes('event: agents')) resolve(socket);
        });
        socket.on('error', reject);
        socket.write(`GET /api/mindconnectmqtt/v3/agents/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      });
    }));
    const refused = await openEventStream(`${server.apiUrl}/agents/events`, await server.token(tenant));
    assert.equal(refused.status, 429, 'positive control: the ten raw streams hold the tenant\'s ten places');
    for (const socket of sockets) socket.resetAndDestroy();
    let reopened: EventStreamClient[] = [];
    await waitUntil(async () => {
      for (const stream of reopened) stream.close();
      reopened = await openAll(await server.token(tenant));
      return reopened.every((stream) => stream.status === 200);
    }, 10_000, 'ten streams open again after ten readers vanished');
    for (const stream of reopened) stream.close();

    // Ten streams whose 2 s tokens expire mid-stream: each ends and frees its place.
    let expiring: EventStreamClient[] = [];
    await waitUntil(async () => {
      for (const stream of expiring) stream.close();
      expiring = await openAll(await server.token(tenant, { ttlSeconds: 2 }));
      return expiring.every((stream) => stream.status === 200);
    }, 10_000, 'ten streams with short tokens');
    for (const stream of expiring) {
      const end = await stream.next((event) => event.event === 'streamEnd', EVENT_MS, 'the end at the token\'s expiry');
      assert.deepEqual(end.data, { reason: 'tokenExpired' });
      await stream.ended;
    }
    const after = await openAll(await server.token(tenant));
    assert.deepEqual(after.map((stream) => stream.status), Array(10).fill(200), 'the expired streams gave their places back');
    for (const stream of after) stream.close();
  });
});
