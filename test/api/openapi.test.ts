import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { assertError, newTenant, randomId, rawRequest } from '../support/api-helpers.ts';
import { openEventStream } from '../support/event-stream-client.ts';

// The OpenAPI document is the map scripts and people read: it must list exactly the routes the
// server answers, and a path the server does not know answers 404 request.routeNotFound.

const BASE = '/api/mindconnectmqtt/v3';

// The API routes: the table of README "REST API", the how-to's shorthand path, the agents and agent
// certificates extensions.
const API_ROUTES = [
  'POST /agentCertificates',
  'GET /agentCertificates',
  'GET /agentCertificates/{id}',
  'POST /agentCertificates/{id}/renew',
  'DELETE /agentCertificates/{id}',
  'GET /agents',
  'GET /agents/events',
  'GET /agents/{id}',
  'GET /auditEvents',
  'PATCH /agents/{id}',
  'DELETE /agents/{id}',
  'GET /bans',
  'DELETE /bans/{id}',
  'POST /agents/doctor',
  'POST /caCertificates',
  'GET /caCertificates',
  'GET /caCertificates/{id}',
  'DELETE /caCertificates/{id}',
  'GET /caCertificates/{id}/registrationCode',
  'GET /{id}/registrationCode',
  'POST /caCertificates/{id}/verify',
  'POST /caCertificates/{id}/revokedCertificates',
  'GET /caCertificates/{id}/revokedCertificates',
  'DELETE /caCertificates/{id}/revokedCertificates/{serialNumber}',
  'PUT /caCertificates/{id}/crl',
  'GET /caCertificates/{id}/crl',
  // The Commanding API (issue 19, docs/commanding.md): its own prefix on the same server.
  'POST /api/commanding/v3/deliveryJobs',
  'GET /api/commanding/v3/deliveryJobs',
  'GET /api/commanding/v3/deliveryJobs/{id}',
  'DELETE /api/commanding/v3/deliveryJobs/{id}',
  'GET /api/commanding/v3/deliveryJobs/{id}/commands',
].sort();
const COMMANDING = '/api/commanding/v3';

// Documented, public on purpose, outside the API base path.
const PUBLIC_ROUTES = ['GET /broker-ca.pem', 'GET /broker.json'];

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

for (const dialect of testDialects) describeOn(dialect)(`OpenAPI document and unknown routes (REST API) [${dialect}]`, () => {
  let server: TestServer;
  let document: any;
  const tenant = newTenant('oas');

  before(async () => {
    server = await startTestServer({}, { dialect });
    const answer = await rawRequest(server, '/openapi.json', { authorization: null });
    assert.equal(answer.status, 200, answer.text);
    document = answer.body;
  });
  after(async () => { await server?.close(); });

  const operations = (): { route: string; operation: any; pathItem: any }[] =>
    allOperations().filter(({ route }) => !PUBLIC_ROUTES.includes(route));
  const allOperations = (): { route: string; operation: any; pathItem: any }[] =>
    Object.entries<any>(document.paths ?? {}).flatMap(([path, pathItem]) =>
      Object.entries<any>(pathItem).filter(([method]) => HTTP_METHODS.includes(method)).map(([method, operation]) => ({
        route: `${method.toUpperCase()} ${path.startsWith(BASE) ? path.slice(BASE.length) : path}`,
        operation,
        pathItem,
      })));

  test('GET /api/mindconnectmqtt/v3/openapi.json is an OpenAPI 3 document served as JSON, without a token', async () => {
    const answer = await rawRequest(server, '/openapi.json', { authorization: null });
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(document.openapi, /^3\.\d+\.\d+$/);
    assert.equal(typeof document.info?.title, 'string');
    assert.equal(typeof document.info?.version, 'string');
  });

  test('it lists exactly the API routes with their methods, and the public broker CA download and broker info', () => {
    assert.deepEqual(operations().map(({ route }) => route).sort(), API_ROUTES);
    assert.deepEqual(allOperations().map(({ route }) => route).filter((r) => !API_ROUTES.includes(r)).sort(), PUBLIC_ROUTES);
    for (const path of Object.keys(document.paths).filter((p) => !['/broker-ca.pem', '/broker.json'].includes(p))) {
      assert.ok(path.startsWith(`${BASE}/`) || path.startsWith(`${COMMANDING}/`), `${path} is under the API base path or the Commanding API's`);
    }
  });

  test('every listed route really exists on the server (never request.routeNotFound)', async () => {
    for (const { route } of operations()) {
      const [method, template] = route.split(' ') as [string, string];
      if (route === 'GET /agents/events') {
        // An endless stream: its headers say it is routed; then it is let go.
        const stream = await openEventStream(`${server.apiUrl}${template}`, await server.token(tenant));
        stream.close();
        assert.equal(stream.status, 200, `${route} is routed`);
        continue;
      }
      const path = template.replace('{id}', randomId());
      const answer = await rawRequest(server, path, {
        tenant, method, ...(method === 'POST' || method === 'PATCH' ? { body: '{}' } : {}), ...(path.startsWith(COMMANDING) ? { base: 'root' as const } : {}),
      });
      assert.notEqual(answer.body?.errors?.[0]?.code, 'request.routeNotFound', `${route} is routed: ${answer.status} ${answer.text.slice(0, 200)}`);
      assert.ok([200, 400, 404].includes(answer.status), `${route}: ${answer.status}`);
      const notFound = route.includes('/deliveryJobs') ? 'deliveryJob.notFound' : route.includes('/agentCertificates') ? 'agentCertificate.notFound' : route.includes('/agents') ? 'agent.notFound'
        : route.includes('/bans') ? 'ban.notFound' : 'caCertificate.notFound';
      if (answer.status === 404) assert.equal(answer.body.errors[0].code, notFound);
    }
  });

  test('every operation declares bearer security, its path parameter, and the MindConnect error body', () => {
    assert.deepEqual(document.components?.securitySchemes?.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    for (const { route, operation, pathItem } of operations()) {
      assert.deepEqual(operation.security, [{ bearerAuth: [] }], `${route} security`);
      assert.equal(typeof operation.summary, 'string', `${route} summary`);
      for (const status of ['401', '403']) {
        const schema = operation.responses?.[status]?.content?.['application/json']?.schema;
        assert.ok(schema, `${route} documents ${status}`);
        assert.deepEqual(schema.required, ['errors'], `${route} ${status} is the error body`);
        assert.deepEqual(schema.properties.errors.items.required, ['code', 'logref', 'message']);
      }
      if (route.includes('{id}')) {
        const parameters = [...(operation.parameters ?? []), ...(pathItem.parameters ?? [])];
        assert.ok(parameters.some((p: any) => p.name === 'id' && p.in === 'path' && p.required === true), `${route} declares the id path parameter`);
        assert.ok(operation.responses?.['404'], `${route} documents 404`);
      }
    }
  });

  test('the request and response bodies are documented as README "REST API" describes them', () => {
    const byRoute = new Map(operations().map(({ route, operation }) => [route, operation]));
    const upload = byRoute.get('POST /caCertificates');
    const uploadSchema = upload.requestBody?.content?.['application/json']?.schema;
    assert.deepEqual([...uploadSchema.required].sort(), ['caCertificate', 'name']);
    assert.equal(uploadSchema.properties.name.minLength, 1);
    assert.equal(uploadSchema.properties.name.maxLength, 128);
    for (const status of ['400', '409', '413', '415']) assert.ok(upload.responses[status], `upload documents ${status}`);
    const created = upload.responses['201']?.content?.['application/json']?.schema;
    for (const field of ['id', 'name', 'expiration', 'commonName', 'isVerified']) {
      assert.ok(created.properties[field], `the CA resource documents ${field}`);
      assert.ok(created.required.includes(field), `${field} is required in the CA resource`);
    }

    const verify = byRoute.get('POST /caCertificates/{id}/verify');
    assert.deepEqual(verify.requestBody?.content?.['application/json']?.schema?.required, ['verificationCertificate']);
    for (const status of ['200', '400', '404', '409']) assert.ok(verify.responses[status], `verify documents ${status}`);

    for (const route of ['GET /caCertificates/{id}/registrationCode', 'GET /{id}/registrationCode']) {
      const schema = byRoute.get(route).responses['200']?.content?.['application/json']?.schema;
      assert.deepEqual(schema?.required, ['registrationCode'], route);
    }
    assert.ok(byRoute.get('DELETE /caCertificates/{id}').responses['204'], 'delete documents 204');
    assert.equal(byRoute.get('GET /caCertificates').responses['200']?.content?.['application/json']?.schema?.type, 'array');
  });

  const unknownRoutes: { method: string; path: string; base?: 'root' }[] = [
    { method: 'GET', path: '/nope' },
    { method: 'GET', path: '/agentz' },
    { method: 'PUT', path: `/agents/${'a'.repeat(24)}` },
    { method: 'GET', path: '/caCertificates/x/y/z' },
    { method: 'POST', path: '/caCertificates/abc/registrationCode' },
    { method: 'PUT', path: '/caCertificates' },
    { method: 'PATCH', path: `/caCertificates/${'a'.repeat(24)}` },
    { method: 'DELETE', path: '/caCertificates' },
    { method: 'GET', path: `/caCertificates/${'a'.repeat(24)}/verify` },
    { method: 'GET', path: '/api/mindconnectmqtt/v2/caCertificates', base: 'root' },
    { method: 'GET', path: '/', base: 'root' },
  ];
  for (const { method, path, base } of unknownRoutes) {
    test(`unknown route ${method} ${base === 'root' ? '' : BASE}${path}: 404 request.routeNotFound`, async () => {
      const answer = await rawRequest(server, path, { tenant, method, ...(base ? { base } : {}), ...(method === 'POST' || method === 'PUT' || method === 'PATCH' ? { body: '{}' } : {}) });
      assertError(answer, 404, 'request.routeNotFound', /openapi\.json/);
      assert.ok(answer.body.errors[0].message.includes(method), 'the message names the method');
    });
  }

  test('an unknown route answers the same with and without a token (it leaks nothing about auth)', async () => {
    const withToken = await rawRequest(server, '/nope', { tenant });
    const without = await rawRequest(server, '/nope', { authorization: null });
    assertError(withToken, 404, 'request.routeNotFound');
    assertError(without, 404, 'request.routeNotFound');
    assert.equal(withToken.body.errors[0].message, without.body.errors[0].message);
  });

  test('a trailing slash reaches the same route', async () => {
    const answer = await rawRequest(server, '/caCertificates/', { tenant });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, []);
  });
});
