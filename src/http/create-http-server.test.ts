import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import {
  createDevTokenVerifier, generateAgentTokenKey, loadOrCreateDevSigningKey, mintDevToken, signAgentToken, type DevSigningKey, type Scope,
} from '../auth/index.ts';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import { API_BASE_PATH, createHttpServer } from './create-http-server.ts';
import { CONSOLE_ROOT } from './console/console-routes.ts';

// Who may call each route of the server, as a table: a route the table does not name fails this
// test, so adding one means deciding its access here (a route that declares none does not even
// register: see authenticate.test.ts). HEAD routes are Fastify's copies of the GET routes and must
// answer the same.
const API = API_BASE_PATH;
// The web console: its page and every file of its folder, public like any static page (they hold
// no data; each API call they make carries the operator's token: docs/console.md).
const CONSOLE_FILES = readdirSync(CONSOLE_ROOT, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile())
  .map((entry) => `GET /console/${relative(CONSOLE_ROOT, join(entry.parentPath, entry.name)).split('\\').join('/')}`);
const ACCESS: Readonly<Record<string, Scope | 'public'>> = {
  [`POST ${API}/caCertificates`]: 'mcmqtt.admin',
  [`GET ${API}/caCertificates`]: 'mcmqtt.read',
  [`GET ${API}/caCertificates/:id`]: 'mcmqtt.read',
  [`DELETE ${API}/caCertificates/:id`]: 'mcmqtt.admin',
  [`GET ${API}/caCertificates/:id/registrationCode`]: 'mcmqtt.read',
  [`GET ${API}/:id/registrationCode`]: 'mcmqtt.read',
  [`POST ${API}/caCertificates/:id/verify`]: 'mcmqtt.admin',
  [`POST ${API}/caCertificates/:id/revokedCertificates`]: 'mcmqtt.admin',
  [`GET ${API}/caCertificates/:id/revokedCertificates`]: 'mcmqtt.read',
  [`DELETE ${API}/caCertificates/:id/revokedCertificates/:serialNumber`]: 'mcmqtt.admin',
  [`PUT ${API}/caCertificates/:id/crl`]: 'mcmqtt.admin',
  [`GET ${API}/caCertificates/:id/crl`]: 'mcmqtt.read',
  [`GET ${API}/agents`]: 'mcmqtt.read',
  [`GET ${API}/agents/:id`]: 'mcmqtt.read',
  [`PATCH ${API}/agents/:id`]: 'mcmqtt.admin',
  [`DELETE ${API}/agents/:id`]: 'mcmqtt.admin',
  [`POST ${API}/agents/doctor`]: 'mcmqtt.read',
  [`GET ${API}/agents/events`]: 'mcmqtt.read',
  [`POST ${API}/agentCertificates`]: 'mcmqtt.admin',
  [`GET ${API}/agentCertificates`]: 'mcmqtt.read',
  [`GET ${API}/agentCertificates/:id`]: 'mcmqtt.read',
  [`POST ${API}/agentCertificates/:id/renew`]: 'mcmqtt.admin',
  [`DELETE ${API}/agentCertificates/:id`]: 'mcmqtt.admin',
  [`GET ${API}/auditEvents`]: 'mcmqtt.admin',
  [`GET ${API}/openapi.json`]: 'public',
  // Swagger UI (@fastify/swagger-ui), public like the document it shows: its page, the document
  // as JSON and YAML, its initializer and its static assets (the route `docs/static/*`, which
  // printRoutes' tree shows as `docs*`; called with one of its files).
  [`GET ${API}/docs`]: 'public',
  [`GET ${API}/docs*`]: 'public',
  [`GET ${API}/docs/json`]: 'public',
  [`GET ${API}/docs/yaml`]: 'public',
  [`GET ${API}/docs/static/index.html`]: 'public',
  [`GET ${API}/docs/static/swagger-initializer.js`]: 'public',
  'GET /broker-ca.pem': 'public',
  'GET /broker.json': 'public',
  'GET /.well-known/jwks.json': 'public',
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'public',
  'GET /console': 'public',
  ...Object.fromEntries(CONSOLE_FILES.map((route) => [route, 'public'] as const)),
};

const expectedAccess = (route: string): Scope | 'public' | undefined => ACCESS[route.replace(/^HEAD /, 'GET ')];

// Every "METHOD /path" the router holds, read from printRoutes' tree (each level indents by four
// characters and continues its parent's path). A line the parser does not understand fails the
// test rather than hiding a route.
const routesOf = (app: FastifyInstance): string[] => {
  const paths: string[] = [];
  const routes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n').filter((l) => l.trim() !== '')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    assert.ok(match, `printRoutes line understood: ${JSON.stringify(line)}`);
    const depth = match[1]!.length / 4;
    const path = `${depth === 0 ? '' : paths[depth - 1]}${match[2]}`;
    paths[depth] = path;
    paths.length = depth + 1;
    for (const method of match[3]?.split(', ') ?? []) routes.push(`${method} ${path}`);
  }
  return routes.sort();
};

describe('the HTTP server\'s routes and who may call them', () => {
  let dataDir: string;
  let key: DevSigningKey;
  let app: FastifyInstance;
  const tokens = new Map<string, string>();

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'trustgate-routes-'));
    key = await loadOrCreateDevSigningKey(dataDir);
    for (const [name, scopes] of Object.entries({ none: [], read: ['mcmqtt.read'], admin: ['mcmqtt.admin'] })) {
      tokens.set(name, await mintDevToken(key, { tenant: 'acme', scopes, ttlSeconds: 600 }));
    }
    app = await createHttpServer({
      registry: registryFixture().registry,
      tokens: createDevTokenVerifier(key.publicJwk),
      logger: pino({ level: 'silent' }),
      devJwks: { keys: [key.publicJwk] },
      metrics: new MetricsRegistry(),
      brokerRootCaPem: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n',
      broker: { port: 8883, hostnames: ['localhost'] },
    });
    await app.ready();
  });
  after(async () => {
    await app?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const call = async (route: string, token: 'none' | 'read' | 'admin' | 'agent' | undefined) => {
    const [method = '', path = ''] = route.split(' ');
    const request = {
      method,
      url: path.replace(':id', 'a'.repeat(24)).replace(/\/docs\*$/, '/docs/static/swagger-ui.css'),
      headers: token === undefined ? {} : { authorization: `Bearer ${tokens.get(token)}` },
    };
    if (path.endsWith('/agents/events')) {
      // An endless stream: answered once its headers are written; a refusal's body is read whole.
      const streamed = await app.inject({ ...request, payloadAsStream: true });
      const stream = streamed.stream();
      if (streamed.statusCode === 200) {
        stream.destroy();
        return { status: 200, error: undefined };
      }
      let body = '';
      for await (const chunk of stream) body += String(chunk);
      return { status: streamed.statusCode, error: JSON.parse(body).errors[0] };
    }
    const answer = await app.inject(request);
    const isRefusal = method !== 'HEAD' && (answer.statusCode === 401 || answer.statusCode === 403);
    return { status: answer.statusCode, error: isRefusal ? answer.json().errors[0] : undefined };
  };

  test('every route is in the table, and the table names no route the server lacks', () => {
    const routes = routesOf(app);
    assert.deepEqual(routes.filter((route) => expectedAccess(route) === undefined), [], 'routes whose access nobody decided');
    // Every GET has its HEAD, but the event stream's (a HEAD would hold a stream nobody reads).
    const expected = Object.keys(ACCESS).flatMap((route) => (route.startsWith('GET ') && !route.endsWith('/agents/events') ? [route, route.replace('GET ', 'HEAD ')] : [route])).sort();
    assert.deepEqual(routes, expected);
  });

  test('a scoped route refuses a caller without a token (401) and a token without its scope (403 naming the scope)', async () => {
    for (const route of routesOf(app).filter((r) => expectedAccess(r) !== 'public')) {
      const scope = expectedAccess(route);
      const anonymous = await call(route, undefined);
      assert.equal(anonymous.status, 401, `${route} without a token`);
      if (anonymous.error) assert.equal(anonymous.error.code, 'auth.tokenMissing', route);
      const scopeless = await call(route, 'none');
      assert.equal(scopeless.status, 403, `${route} with a token without scopes`);
      if (scopeless.error) assert.match(scopeless.error.message, new RegExp(`needs the scope ${String(scope).replace('.', '\\.')}[ ;]`), route);
      const reader = await call(route, 'read');
      if (scope === 'mcmqtt.admin') assert.equal(reader.status, 403, `${route} with mcmqtt.read`);
      else assert.ok(![401, 403].includes(reader.status), `${route} with mcmqtt.read: ${reader.status}`);
      const admin = await call(route, 'admin');
      assert.ok(![401, 403].includes(admin.status), `${route} with mcmqtt.admin: ${admin.status}`);
    }
  });

  test('an agent access token is refused on every scoped route, the event stream included (401 auth.agentTokenRefused)', async () => {
    // Security review of decision 0033 (issue 19 part 1): the token an agent gets over MQTT, for
    // the agent's tenant, opens none of trustgate's REST routes, whatever the route.
    const agentKey = await generateAgentTokenKey(new Date());
    const agentToken = await signAgentToken(createPrivateKey(agentKey.privateKeyPem), agentKey.kid, { tenant: 'acme', clientId: 'acme_pump-1', jti: 'j', issuedAt: new Date() });
    tokens.set('agent', agentToken);
    const scoped = routesOf(app).filter((route) => expectedAccess(route) !== 'public');
    assert.ok(scoped.some((route) => route.endsWith('/agents/events')), 'the event stream is among them');
    for (const route of scoped) {
      const answer = await call(route, 'agent');
      assert.equal(answer.status, 401, `${route} with an agent token`);
      if (answer.error) assert.equal(answer.error.code, 'auth.agentTokenRefused', route);
    }
    tokens.delete('agent');
  });

  test('a public route answers without a token', async () => {
    for (const route of routesOf(app).filter((r) => expectedAccess(r) === 'public')) {
      const anonymous = await call(route, undefined);
      // Swagger UI's static/index.html redirects to its page; /console to /console/.
      const expected = route.endsWith('/docs/static/index.html') ? 302 : route.endsWith(' /console') ? 301 : 200;
      assert.equal(anonymous.status, expected, `${route} without a token`);
    }
  });
  // Attacks on the token check that the onRequest hook must withstand (issue 11 review): the
  // token is checked before the body is read, whatever the body, and no spelling of a scoped
  // path reaches its handler without a token. Each row would fail if the protection regressed.
  const HUGE = JSON.stringify({ name: 'x', caCertificate: 'A'.repeat(10 * 1024 * 1024) });
  const bodyRoutes = () => routesOf(app).filter((route) => /^(POST|PATCH|PUT) /.test(route));

  test('a caller without a valid token never gets its body read: 10 MB, text/plain or broken JSON is 401, a read-only token on an admin route 403, never 413/415/400', async () => {
    assert.ok(bodyRoutes().length >= 5, 'the routes that take a body');
    for (const route of bodyRoutes()) {
      const [method = '', path = ''] = route.split(' ');
      const send = (payload: string, contentType: string, authorization?: string) => app.inject({
        method: method as 'POST', url: path.replace(':id', 'a'.repeat(24)), payload,
        headers: { 'content-type': contentType, ...(authorization ? { authorization } : {}) },
      });
      const rows: [string, Awaited<ReturnType<typeof send>>, number, string][] = [
        ['no token, 10 MB JSON', await send(HUGE, 'application/json'), 401, 'auth.tokenMissing'],
        ['no token, text/plain', await send('hello', 'text/plain'), 401, 'auth.tokenMissing'],
        ['no token, broken JSON', await send('{not json', 'application/json'), 401, 'auth.tokenMissing'],
        ['a token that is no JWT, 10 MB JSON', await send(HUGE, 'application/json', 'Bearer a.b.c'), 401, 'auth.tokenInvalid'],
        ['a token without scopes, 10 MB JSON', await send(HUGE, 'application/json', `Bearer ${tokens.get('none')}`), 403, 'auth.scopeMissing'],
      ];
      if (expectedAccess(route) === 'mcmqtt.admin') {
        rows.push(['mcmqtt.read, 10 MB JSON', await send(HUGE, 'application/json', `Bearer ${tokens.get('read')}`), 403, 'auth.scopeMissing']);
      }
      // Positive control: with the scope, the same body is refused for its size.
      const scoped = tokens.get(expectedAccess(route) === 'mcmqtt.admin' ? 'admin' : 'read');
      rows.push(['the right scope, 10 MB JSON', await send(HUGE, 'application/json', `Bearer ${scoped}`), 413, 'request.bodyTooLarge']);
      for (const [what, answer, status, code] of rows) {
        assert.equal(answer.statusCode, status, `${route}, ${what}`);
        assert.equal(answer.json().errors[0].code, code, `${route}, ${what}`);
      }
    }
  });

  test('no other spelling of a scoped route answers without a token: trailing slash, percent-encoding, query, HEAD are 401; case, double slash, OPTIONS, TRACE are 404', async () => {
    const scoped = routesOf(app).filter((route) => expectedAccess(route) !== 'public' && !route.startsWith('HEAD '));
    const encodeFirstLetter = (path: string) => path.replace(/\/([A-Za-z])([A-Za-z]*)$/, (_all, first: string, rest: string) => `/%${first.charCodeAt(0).toString(16)}${rest}`);
    for (const route of scoped) {
      const [method = '', template = ''] = route.split(' ');
      const path = template.replace(':id', 'a'.repeat(24));
      const rows: [string, string, string, number][] = [
        ['trailing slash', method, `${path}/`, 401],
        ['query string', method, `${path}?tenant=other&scope=mcmqtt.admin`, 401],
        ['percent-encoded letter', method, encodeFirstLetter(path), 401],
        ['upper case', method, path.toUpperCase(), 404],
        ['double slash', method, path.replace(API, `${API}/`), 404],
        ['leading double slash', method, `/${path}`, 404],
        ['OPTIONS', 'OPTIONS', path, 404],
        ['TRACE', 'TRACE', path, 404],
      ];
      if (method === 'GET') rows.push(['HEAD', 'HEAD', path, 401], ['HEAD with trailing slash', 'HEAD', `${path}/`, 401]);
      for (const [what, verb, url, status] of rows) {
        const answer = await app.inject({ method: verb as 'GET', url });
        assert.equal(answer.statusCode, status, `${route}, ${what}: ${verb} ${url}`);
      }
    }
    // No UI or document route a plugin might add answers besides the table's.
    for (const url of ['/documentation', '/documentation/json', '/documentation/static/index.html', '/docs', `${API}/documentation`]) {
      assert.equal((await app.inject({ method: 'GET', url })).statusCode, 404, url);
    }
  });
});
