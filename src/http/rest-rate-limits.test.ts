import { describe, test, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { createDevTokenVerifier, loadOrCreateDevSigningKey, mintDevToken, type DevSigningKey } from '../auth/index.ts';
import { MINDCONNECT_RATE_LIMITS } from '../config/index.ts';
import { InMemoryAuditTrail } from '../registry/index.ts';
import { createRateLimitRedis } from '../cluster/index.ts';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import { createCa } from '../../test/support/test-pki.ts';
import { sampleValue } from '../../test/support/metrics-text.ts';
import { captureLogs } from '../../test/support/capture-logs.ts';
import { deleteKeysUnder, redisAdmin, RedisOutageProxy, uniqueRedisPrefix, waitUntil } from '../../test/support/redis-helpers.ts';
import { describeNeeding } from '../../test/support/test-services.ts';
import { API_BASE_PATH, createHttpServer, type HttpServerOptions } from './create-http-server.ts';
import { httpStatusByCode } from './error-status.ts';
import type { RestRateLimits } from './rate-limit-budgets.ts';

// The REST rate limits in one process, on a fake clock (Date only, so the third call's Retry-After
// is waited out by moving the clock, not by sleeping 30 s). The cluster's shared budget is
// test/cluster/rest-rate-limits-cluster.test.ts.

let dataDir: string;
let key: DevSigningKey;
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'trustgate-rate-limits-'));
  key = await loadOrCreateDevSigningKey(dataDir);
});
after(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const serverWith = async (rateLimits: HttpServerOptions['rateLimits'], extra: Partial<HttpServerOptions> = {}) => {
  const auditTrail = new InMemoryAuditTrail();
  const metrics = new MetricsRegistry();
  const app = await createHttpServer({
    registry: registryFixture().registry,
    tokens: createDevTokenVerifier(key.publicJwk),
    logger: pino({ level: 'silent' }),
    devJwks: { keys: [key.publicJwk] },
    metrics,
    brokerRootCaPem: undefined,
    broker: { port: 8883, hostnames: ['localhost'] },
    rateLimits,
    auditTrail,
    ...extra,
  });
  await app.ready();
  return { app, auditTrail, metrics };
};

const tokenFor = (tenant: string) => mintDevToken(key, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: 3600 });
const call = async (app: FastifyInstance, tenant: string, method: string, path: string, body?: unknown) => {
  const answer = await app.inject({
    method: method as 'GET', url: `${API_BASE_PATH}${path}`,
    headers: { authorization: `Bearer ${await tokenFor(tenant)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: answer.statusCode, headers: answer.headers, body: answer.body === '' ? undefined : answer.json() };
};
const upload = async (app: FastifyInstance, tenant: string) =>
  call(app, tenant, 'POST', '/caCertificates', { name: 'ca', caCertificate: (await createCa()).certificatePem });

const assertRateLimited = (answer: Awaited<ReturnType<typeof call>>, limit: string, route: string): number => {
  assert.equal(answer.status, 429, JSON.stringify(answer.body));
  assert.equal(answer.body.errors.length, 1);
  const [error] = answer.body.errors;
  assert.equal(error.code, 'rateLimit.exceeded');
  assert.ok(error.logref, 'a logref');
  const retryAfter = Number(answer.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After in seconds: ${answer.headers['retry-after']}`);
  assert.match(error.message, new RegExp(`retry after ${retryAfter} s \\(limit: ${limit} for ${route}`));
  assert.equal(answer.headers['x-ratelimit-remaining'], '0');
  return retryAfter;
};

const mindconnect = { rest: MINDCONNECT_RATE_LIMITS.rest!, redis: undefined, redisPrefix: 'test:' };

describe('REST rate limits with the mindconnect default table', () => {
  let server: Awaited<ReturnType<typeof serverWith>>;
  before(async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    server = await serverWith(mindconnect);
  });
  after(async () => {
    await server?.app.close();
    mock.timers.reset();
  });

  test('the third POST /caCertificates within 30 s gets 429 with Retry-After; another tenant and GET /caCertificates are unaffected; after Retry-After it passes', async () => {
    const { app, auditTrail, metrics } = server;
    const first = await upload(app, 'acme');
    assert.equal(first.status, 201);
    assert.equal(first.headers['x-ratelimit-limit'], '2', 'the window closest to refusing');
    assert.equal(first.headers['x-ratelimit-remaining'], '1');
    assert.equal((await upload(app, 'acme')).status, 201);
    const third = await upload(app, 'acme');
    const retryAfter = assertRateLimited(third, '2 per 30 s', 'POST /caCertificates');
    assert.ok(retryAfter <= 30);

    assert.equal((await upload(app, 'beta')).status, 201, 'another tenant has its own budget');
    const list = await call(app, 'acme', 'GET', '/caCertificates');
    assert.equal(list.status, 200, 'GET /caCertificates draws from its own budget');
    assert.equal(list.body.length, 2);

    mock.timers.tick(retryAfter * 1000);
    assert.equal((await call(app, 'acme', 'DELETE', `/caCertificates/${first.body.id}`)).status, 204);
    assert.equal((await upload(app, 'acme')).status, 201, 'after Retry-After the call passes');

    assert.equal(auditTrail.entries.length, 1);
    const [entry] = auditTrail.entries;
    assert.equal(entry!.action, 'rateLimit.exceeded');
    assert.equal(entry!.tenant, 'acme');
    assert.equal(entry!.target, 'route:POST /caCertificates');
    assert.equal(entry!.outcome, 'failure');
    assert.equal(entry!.requestId, third.body.errors[0].logref);
    assert.equal(entry!.count, 1);
    const text = await metrics.metrics();
    assert.equal(sampleValue(text, 'trustgate_http_rate_limited_total', { method: 'POST', route: `${API_BASE_PATH}/caCertificates` }), 1);
    assert.ok(!text.includes('trustgate_tenant_http_rate_limited_total'), 'no tenant names without TRUSTGATE_METRICS_TOKEN');
  });

  test('the how-to\'s shorthand registrationCode path shares the registrationCode budget', async () => {
    const id = 'a'.repeat(24);
    assert.equal((await call(server.app, 'gamma', 'GET', `/caCertificates/${id}/registrationCode`)).status, 404);
    assert.equal((await call(server.app, 'gamma', 'GET', `/${id}/registrationCode`)).status, 404);
    assertRateLimited(await call(server.app, 'gamma', 'GET', `/caCertificates/${id}/registrationCode`), '2 per 30 s', 'GET /caCertificates/:id/registrationCode');
    assertRateLimited(await call(server.app, 'gamma', 'GET', `/${id}/registrationCode`), '2 per 30 s', 'GET /caCertificates/:id/registrationCode');
    // HEAD is the GET route's copy: the same budget.
    assert.equal((await server.app.inject({ method: 'HEAD', url: `${API_BASE_PATH}/${id}/registrationCode`, headers: { authorization: `Bearer ${await tokenFor('gamma')}` } })).statusCode, 429);
  });

  test('a trust refusal is never a 429, and a 429 never carries a trust code', async () => {
    const notACa = await call(server.app, 'delta', 'POST', '/caCertificates', { name: 'x', caCertificate: (await createCa({ basicConstraints: { ca: false } })).certificatePem });
    assert.equal(notACa.status, 400);
    assert.notEqual(notACa.body.errors[0].code, 'rateLimit.exceeded');
    // The only codes answered with 429: this one, the renewal and agent token limits (MQTT answers) and the agent
    // event streams' cap, no trust decision.
    assert.deepEqual(Object.entries(httpStatusByCode).filter(([, status]) => status === 429).map(([code]) => code).sort(),
      ['agent.streamTenantLimitReached', 'agentToken.rateLimited', 'rateLimit.exceeded', 'renewal.inProgress', 'renewal.tooSoon']);
  });
});

describe('REST rate limits from a policy (two windows, floods, route names)', () => {
  const SECOND = 1000;
  const twoWindows: RestRateLimits = {
    routes: [{ method: 'POST', route: '/caCertificates/:id/verify', windows: [{ max: 5, windowMs: 60 * SECOND }, { max: 2, windowMs: SECOND }] }],
    otherRoutes: [{ max: 1000, windowMs: SECOND }],
  };
  before(() => mock.timers.enable({ apis: ['Date'], now: Date.now() }));
  after(() => mock.timers.reset());

  test('a route passes both windows; a call refused by the short window does not use up the long one; the 429 names the window that refused', async () => {
    const { app } = await serverWith({ rest: twoWindows, redis: undefined, redisPrefix: 'test:' });
    try {
      const verify = () => call(app, 'acme', 'POST', `/caCertificates/${'b'.repeat(24)}/verify`, { verificationCertificate: 'x' });
      let longWindowCalls = 0;
      for (let round = 0; round < 2; round += 1) {
        assert.notEqual((await verify()).status, 429);
        assert.notEqual((await verify()).status, 429);
        longWindowCalls += 2;
        assert.equal(assertRateLimited(await verify(), '2 per 1 s', 'POST /caCertificates/:id/verify'), 1);
        mock.timers.tick(SECOND);
      }
      // 4 counted in the minute (the two refused calls were not): one more passes, then the minute refuses.
      assert.equal(longWindowCalls, 4);
      assert.notEqual((await verify()).status, 429);
      const retryAfter = assertRateLimited(await verify(), '5 per 60 s', 'POST /caCertificates/:id/verify');
      assert.ok(retryAfter > 50 && retryAfter <= 60, String(retryAfter));
    } finally {
      await app.close();
    }
  });

  test('a tenant hammering a route writes one audit entry at once and one summary with the count, not one per call', async () => {
    const { app, auditTrail } = await serverWith({ rest: { routes: [], otherRoutes: [{ max: 1, windowMs: 60 * SECOND }] }, redis: undefined, redisPrefix: 'test:' });
    assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 200);
    for (let i = 0; i < 50; i += 1) assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 429);
    assert.equal(auditTrail.entries.length, 1);
    await app.close();
    assert.deepEqual(auditTrail.entries.map((entry) => [entry.target, entry.count]), [['route:GET /agents', 1], ['route:GET /agents', 49]]);
  });

  test('with TRUSTGATE_METRICS_TOKEN a second family names the tenant', async () => {
    const { app, metrics } = await serverWith({ rest: { routes: [], otherRoutes: [{ max: 1, windowMs: 60 * SECOND }] }, redis: undefined, redisPrefix: 'test:' }, { metricsToken: 'x'.repeat(32) });
    try {
      await call(app, 'acme', 'GET', '/agents');
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 429);
      assert.equal(sampleValue(await metrics.metrics(), 'trustgate_tenant_http_rate_limited_total', { tenant: 'acme', method: 'GET', route: `${API_BASE_PATH}/agents` }), 1);
    } finally {
      await app.close();
    }
  });

  test('public routes (probes, metrics, JWKS) and calls without a valid token are not counted against any tenant', async () => {
    const { app } = await serverWith({ rest: { routes: [], otherRoutes: [{ max: 1, windowMs: 60 * SECOND }] }, redis: undefined, redisPrefix: 'test:' });
    try {
      for (let i = 0; i < 5; i += 1) {
        assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
        assert.equal((await app.inject({ method: 'GET', url: `${API_BASE_PATH}/agents`, headers: { authorization: 'Bearer a.b.c' } })).statusCode, 401);
      }
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 200, 'the tenant\'s first call');
    } finally {
      await app.close();
    }
  });

  test('without rate limits (TRUSTGATE_RATE_LIMITS=off) nothing is limited', async () => {
    const { app } = await serverWith(undefined);
    try {
      for (let i = 0; i < 5; i += 1) {
        const answer = await upload(app, 'acme');
        assert.notEqual(answer.status, 429);
        assert.equal(answer.headers['x-ratelimit-limit'], undefined);
      }
    } finally {
      await app.close();
    }
  });

  test('a policy naming a route the API does not have stops the server from being built, naming it', async () => {
    await assert.rejects(
      serverWith({ rest: { routes: [{ method: 'POST', route: '/caCertificate', windows: [{ max: 1, windowMs: SECOND }] }], otherRoutes: [{ max: 1, windowMs: SECOND }] }, redis: undefined, redisPrefix: 'test:' }),
      /TRUSTGATE_RATE_LIMITS names routes the API does not have: POST \/caCertificate\b.*POST \/caCertificates\b/,
    );
  });

  test('every route of the mindconnect table is a real route (a pattern that names none would limit nothing)', async () => {
    const { app } = await serverWith(mindconnect);
    await app.close();
  });
});

describe('REST rate limits with Redis unreachable', () => {
  test('the API keeps serving and each node counts on its own (fail open to per-node limits), logged once', async () => {
    const logs = captureLogs();
    // Port 1: nothing listens; the connection fails at once.
    const redis = createRateLimitRedis({ url: 'redis://127.0.0.1:1', nodeId: 'test', logger: logs.logger });
    await redis.start();
    const { app, metrics } = await serverWith({ rest: { routes: [], otherRoutes: [{ max: 2, windowMs: 60_000 }] }, redis: redis.connection, redisPrefix: 'test:' }, { logger: logs.logger });
    try {
      const started = performance.now();
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 200);
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 200);
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 429, 'still limited, by this node\'s count');
      assert.ok(performance.now() - started < 5_000, 'no call waits for Redis');
      assert.equal(logs.lines.filter((line) => line.msg.startsWith('rate limit counters unavailable in Redis')).length, 1);
      assert.equal(sampleValue(await metrics.metrics(), 'trustgate_http_rate_limit_local_counts_total'), 3);
      assert.equal(logs.find('rate limited', { tenant: 'acme', route: 'GET /agents', limit: '2 per 60 s' }).length, 1, 'the refusal\'s log line');
    } finally {
      await app.close();
      await redis.close();
    }
  });
});

describe('before the token: an address that keeps failing authentication', () => {
  before(() => mock.timers.enable({ apis: ['Date'], now: Date.now() }));
  after(() => mock.timers.reset());

  test('is refused before verification once over its failure budget, while tokens that work from it are still served and a fresh one gets in within a second', async () => {
    const inner = createDevTokenVerifier(key.publicJwk);
    let verifications = 0;
    const tokens = { verify: async (token: string) => { verifications += 1; return inner.verify(token); } };
    const { app, metrics } = await serverWith({
      rest: { routes: [], otherRoutes: [{ max: 1000, windowMs: 60_000 }] }, redis: undefined, redisPrefix: 'test:', unauthenticatedPerAddress: { max: 3, windowMs: 60_000 },
    }, { tokens });
    const get = (authorization: string) => app.inject({ method: 'GET', url: `${API_BASE_PATH}/agents`, headers: { authorization } });
    try {
      const good = `Bearer ${await tokenFor('acme')}`;
      assert.equal((await get(good)).statusCode, 200, 'a tenant\'s token, used from this address before the noise');
      const junk = 'Bearer junk.junk.junk';
      for (let i = 0; i < 3; i += 1) assert.equal((await get(junk)).statusCode, 401);
      assert.equal((await get(junk)).statusCode, 401, 'one call a second is still verified');
      const before = verifications;
      const refused = await get(junk);
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.json().errors[0].code, 'rateLimit.exceeded');
      assert.match(refused.json().errors[0].message, /limit: 3 per 60 s failed authentications per address/);
      assert.ok(Number(refused.headers['retry-after']) >= 1 && Number(refused.headers['retry-after']) <= 60);
      assert.equal((await app.inject({ method: 'GET', url: `${API_BASE_PATH}/agents` })).statusCode, 429, 'no token at all');
      assert.equal(verifications, before, 'refused without checking a signature');
      assert.equal((await get(good)).statusCode, 200, 'the tenant behind the same address keeps working');
      assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'probes are never refused');

      // The junk has had this second's trial; a token claiming a tenant has a trial of its own.
      const fresh = `Bearer ${await tokenFor('beta')}`;
      assert.equal((await get(fresh)).statusCode, 200, 'a new token of another tenant gets in at once, whatever the junk does');
      assert.equal((await get(fresh)).statusCode, 200, 'and from then on it is known');
      const later = `Bearer ${await mintDevToken(key, { tenant: 'beta', scopes: ['mcmqtt.admin'], ttlSeconds: 1800 })}`;
      assert.equal((await get(later)).statusCode, 429, 'beta\'s trial of this second is spent: its next new token waits');
      mock.timers.tick(1_000);
      assert.equal((await get(later)).statusCode, 200, 'the next trial lets it in');
      assert.equal(sampleValue(await metrics.metrics(), 'trustgate_http_unauthenticated_limited_total'), 3);

      mock.timers.tick(60_000);
      assert.equal((await get(junk)).statusCode, 401, 'a new window: verified again');
    } finally {
      await app.close();
    }
  });
});

describeNeeding('redis')('REST rate limits when Redis goes away and comes back', { timeout: 60_000 }, () => {
  test('counts go to this node\'s memory while Redis is cut and back to Redis (the shared count) once it answers', async () => {
    const logs = captureLogs();
    const proxy = new RedisOutageProxy();
    await proxy.start();
    const redisPrefix = uniqueRedisPrefix('rate-limits');
    const redis = createRateLimitRedis({ url: proxy.url, nodeId: 'test', logger: logs.logger });
    await redis.start();
    const { app } = await serverWith({ rest: { routes: [], otherRoutes: [{ max: 3, windowMs: 60_000 }] }, redis: redis.connection, redisPrefix }, { logger: logs.logger });
    const admin = redisAdmin();
    try {
      await admin.connect();
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 200);
      assert.equal(await admin.get(`${redisPrefix}rateLimit:acme|GET /agents|60000`), '1', 'counted in Redis');

      await proxy.cut();
      await waitUntil(() => redis.connection.status !== 'ready', 10_000, 'the rate-limit connection sees Redis gone');
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 200, 'served, counted on this node');
      assert.equal(logs.find('rate limit counters unavailable in Redis: counting on this node until it answers (each node allows the full limit meanwhile)').length, 1);

      await proxy.restore();
      await waitUntil(() => redis.connection.status === 'ready', 15_000, 'the rate-limit connection is back');
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 200);
      assert.equal(logs.find('rate limit counters in Redis again: one budget for the cluster').length, 1);
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 200);
      // Redis holds 4 now (this node's memory only 1): the shared count decides again.
      assert.equal((await call(app, 'acme', 'GET', '/agents')).status, 429);
    } finally {
      await app.close();
      await redis.close();
      await deleteKeysUnder(admin, redisPrefix).catch(() => undefined);
      admin.disconnect();
      await proxy.close();
    }
  });
});
