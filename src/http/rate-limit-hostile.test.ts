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
import { registryFixture } from '../../test/support/registry-fixture.ts';
import { createCa } from '../../test/support/test-pki.ts';
import { API_BASE_PATH, createHttpServer } from './create-http-server.ts';

// Review of issue 16 (REST rate limits), as an outsider: spellings of a URL that reach the same
// route must draw from the same budget (the key is the matched route pattern, never the raw URL),
// a token without the route's scope must not spend its budget, and a tenant's budget is its own.

let dataDir: string;
let key: DevSigningKey;
let app: FastifyInstance;
before(async () => {
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
  dataDir = await mkdtemp(join(tmpdir(), 'trustgate-rate-limits-hostile-'));
  key = await loadOrCreateDevSigningKey(dataDir);
  app = await createHttpServer({
    registry: registryFixture().registry,
    tokens: createDevTokenVerifier(key.publicJwk),
    logger: pino({ level: 'silent' }),
    devJwks: { keys: [key.publicJwk] },
    metrics: new MetricsRegistry(),
    brokerRootCaPem: undefined,
    broker: { port: 8883, hostnames: ['localhost'] },
    rateLimits: { rest: MINDCONNECT_RATE_LIMITS.rest!, redis: undefined, redisPrefix: 'test:' },
    auditTrail: new InMemoryAuditTrail(),
  });
  await app.ready();
});
after(async () => {
  await app?.close();
  mock.timers.reset();
  await rm(dataDir, { recursive: true, force: true });
});

const tokenFor = (tenant: string, scopes: string[] = ['mcmqtt.admin']) => mintDevToken(key, { tenant, scopes: scopes as never, ttlSeconds: 3600 });
const send = async (tenant: string, method: string, url: string, body?: unknown, scopes?: string[]) => {
  const answer = await app.inject({
    method: method as 'GET', url,
    headers: { authorization: `Bearer ${await tokenFor(tenant, scopes)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return answer.statusCode;
};
const caBody = async () => ({ name: 'ca', caCertificate: (await createCa()).certificatePem });

describe('REST rate limits against spellings, scopes and tenants', () => {
  test('URL spellings of POST /caCertificates share one budget; spellings that reach no route spend none', async () => {
    // Spellings that fastify does not route (they answer 404 and change nothing) must not spend the budget either.
    for (const url of [`${API_BASE_PATH}//caCertificates`, `${API_BASE_PATH}/CACertificates`, `${API_BASE_PATH}%2FcaCertificates`, `${API_BASE_PATH}/caCertificates%2F`]) {
      assert.equal(await send('acme', 'POST', url, await caBody()), 404, url);
    }
    assert.equal(await send('acme', 'POST', `${API_BASE_PATH}/caCertificates/`, await caBody()), 201, 'a trailing slash reaches the route');
    assert.equal(await send('acme', 'POST', `${API_BASE_PATH}/caCertificates?x=1`, await caBody()), 201, 'a query string reaches the route');
    // The budget (2 per 30 s) is spent whatever the spelling.
    for (const url of [`${API_BASE_PATH}/caCertificates`, `${API_BASE_PATH}/caCertificates/`, `${API_BASE_PATH}/caCertificates?y=2`, `${API_BASE_PATH}/caCertificates/?z`]) {
      assert.equal(await send('acme', 'POST', url, await caBody()), 429, url);
    }
    assert.equal(await send('beta', 'POST', `${API_BASE_PATH}/caCertificates`, await caBody()), 201, 'another tenant is untouched');
  });

  test('per CA id URLs of one route share one budget (cycling ids does not multiply it)', async () => {
    const ids = ['1', '2', '3'].map((digit) => digit.repeat(24));
    assert.equal(await send('gamma', 'GET', `${API_BASE_PATH}/caCertificates/${ids[0]}/registrationCode`), 404);
    assert.equal(await send('gamma', 'GET', `${API_BASE_PATH}/caCertificates/${ids[1]}/registrationCode/`), 404);
    assert.equal(await send('gamma', 'GET', `${API_BASE_PATH}/caCertificates/${ids[2]}/registrationCode`), 429);
    assert.equal(await send('gamma', 'HEAD', `${API_BASE_PATH}/${ids[2]}/registrationCode/`), 429, 'HEAD, shorthand and trailing slash: the same budget');
  });

  test('a token without the route\'s scope never spends the budget (a read token cannot block an admin\'s uploads)', async () => {
    for (let i = 0; i < 5; i += 1) assert.equal(await send('delta', 'POST', `${API_BASE_PATH}/caCertificates`, await caBody(), ['mcmqtt.read']), 403);
    assert.equal(await send('delta', 'POST', `${API_BASE_PATH}/caCertificates`, await caBody()), 201);
    assert.equal(await send('delta', 'POST', `${API_BASE_PATH}/caCertificates`, await caBody()), 201);
    assert.equal(await send('delta', 'POST', `${API_BASE_PATH}/caCertificates`, await caBody()), 429, 'positive control: the budget is there');
  });

  test('a tenant\'s budget is keyed by its verified tenant: another tenant\'s flood, and unverifiable tokens naming the tenant, do not touch it', async () => {
    for (let i = 0; i < 3; i += 1) await send('epsilon', 'POST', `${API_BASE_PATH}/caCertificates`, await caBody());
    // A token that names "zeta" but is signed by someone else: 401, no budget of zeta spent.
    const [header, payload] = (await tokenFor('zeta')).split('.');
    for (let i = 0; i < 5; i += 1) {
      const forged = await app.inject({ method: 'POST', url: `${API_BASE_PATH}/caCertificates`, headers: { authorization: `Bearer ${header}.${payload}.${'A'.repeat(86)}`, 'content-type': 'application/json' }, payload: JSON.stringify(await caBody()) });
      assert.equal(forged.statusCode, 401);
    }
    assert.equal(await send('zeta', 'POST', `${API_BASE_PATH}/caCertificates`, await caBody()), 201);
    assert.equal(await send('zeta', 'POST', `${API_BASE_PATH}/caCertificates`, await caBody()), 201);
  });
});

describe('before the token: a junk flood from a tenant\'s own address', () => {
  test('a tenant\'s new token gets in while junk keeps coming from the same address (a NAT, a proxy); forged claims of a tenant compete only with it', async () => {
    const inner = createDevTokenVerifier(key.publicJwk);
    let verifications = 0;
    const limited = await createHttpServer({
      registry: registryFixture().registry,
      tokens: { verify: async (token: string) => { verifications += 1; return inner.verify(token); } },
      logger: pino({ level: 'silent' }),
      devJwks: { keys: [key.publicJwk] },
      metrics: new MetricsRegistry(),
      brokerRootCaPem: undefined,
      broker: { port: 8883, hostnames: ['localhost'] },
      rateLimits: { rest: { routes: [], otherRoutes: [{ max: 1000, windowMs: 60_000 }] }, redis: undefined, redisPrefix: 'test:', unauthenticatedPerAddress: { max: 3, windowMs: 60_000 } },
    });
    await limited.ready();
    const get = async (authorization: string) => (await limited.inject({ method: 'GET', url: `${API_BASE_PATH}/agents`, headers: { authorization } })).statusCode;
    try {
      const junk = () => `Bearer junk${Math.random().toString(36).slice(2)}.x.y`;
      for (let i = 0; i < 4; i += 1) assert.equal(await get(junk()), 401, 'the failure budget, then the trial of this second');
      // The flood goes on: every junk call is refused before verification, every millisecond.
      const before = verifications;
      for (let i = 0; i < 50; i += 1) assert.equal(await get(junk()), 429);
      assert.equal(verifications, before, 'positive control: the junk costs no verification');
      assert.equal(await get(`Bearer ${await tokenFor('omega')}`), 200, 'the tenant\'s new token is verified and served');
      // A forger who names the tenant spends that tenant's trial, and only that one.
      const [header] = (await tokenFor('sigma')).split('.');
      const forged = `Bearer ${header}.${Buffer.from(JSON.stringify({ ten: 'sigma' })).toString('base64url')}.${'A'.repeat(86)}`;
      assert.equal(await get(forged), 401);
      assert.equal(await get(`Bearer ${await tokenFor('sigma')}`), 429, 'sigma waits for its next trial');
      assert.equal(await get(`Bearer ${await tokenFor('tau')}`), 200, 'tau does not');
      // Claims are bounded: 40 made-up tenants in one second verify at most 32 + 1 tokens.
      const beforeClaims = verifications;
      for (let i = 0; i < 40; i += 1) await get(`Bearer ${header}.${Buffer.from(JSON.stringify({ ten: `made-up-${i}` })).toString('base64url')}.${'A'.repeat(86)}`);
      assert.ok(verifications - beforeClaims <= 33, `${verifications - beforeClaims} verifications`);
    } finally {
      await limited.close();
    }
  });
});
