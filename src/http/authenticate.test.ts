import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { createDevTokenVerifier, loadOrCreateDevSigningKey, mintDevToken, type DevSigningKey, type Principal } from '../auth/index.ts';
import { authenticate } from './authenticate.ts';
import { handleErrors } from './handle-errors.ts';

// The mechanism on a bare Fastify: the principal is a request decoration set at onRequest, each
// route declares its access in `config`, and a route that declares none is refused when it is
// registered (fail closed). create-http-server.test.ts checks the real server's routes.

describe('authenticate', () => {
  let dataDir: string;
  let key: DevSigningKey;
  const tokenWith = (scopes: string[]) => mintDevToken(key, { tenant: 'acme', scopes, ttlSeconds: 600 });

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'trustgate-authenticate-'));
    key = await loadOrCreateDevSigningKey(dataDir);
  });
  after(async () => { await rm(dataDir, { recursive: true, force: true }); });

  const build = (): FastifyInstance => {
    const app = Fastify();
    handleErrors(app);
    authenticate(app, createDevTokenVerifier(key.publicJwk));
    return app;
  };

  test('a route that declares neither a scope nor public is refused at registration, naming the route', () => {
    const app = build();
    assert.throws(() => app.get('/forgotten', async () => 'reachable'), /GET \/forgotten declares no access: give it config\.scope/);
    assert.throws(() => app.post('/empty', { config: {} }, async () => 'reachable'), /POST \/empty declares no access/);
  });

  test('a route inside a plugin is checked too: the server does not start', async () => {
    const app = build();
    await assert.rejects(async () => {
      await app.register(async (plugin) => { plugin.delete('/forgotten', async () => 'reachable'); }, { prefix: '/api' });
      await app.ready();
    }, /DELETE \/api\/forgotten declares no access/);
  });

  test('a route that declares both public and a scope is refused', () => {
    const app = build();
    assert.throws(() => app.get('/both', { config: { public: true, scope: 'mcmqtt.read' } }, async () => 'x'), /declares both config\.public and config\.scope/);
  });

  test('a scoped route gets the verified principal as request.principal; no token is 401, a token without the scope 403', async () => {
    const app = build();
    const seen: Principal[] = [];
    app.get('/mine', { config: { scope: 'mcmqtt.admin' } }, async (request) => {
      seen.push(request.principal);
      return { tenant: request.principal.tenant };
    });
    const missing = await app.inject({ method: 'GET', url: '/mine' });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().errors[0].code, 'auth.tokenMissing');
    const readOnly = await app.inject({ method: 'GET', url: '/mine', headers: { authorization: `Bearer ${await tokenWith(['mcmqtt.read'])}` } });
    assert.equal(readOnly.statusCode, 403);
    assert.equal(readOnly.json().errors[0].code, 'auth.scopeMissing');
    assert.match(readOnly.json().errors[0].message, /needs the scope mcmqtt\.admin; the token has mcmqtt\.read/);
    assert.equal(seen.length, 0, 'the handler never ran');

    const admin = await app.inject({ method: 'GET', url: '/mine', headers: { authorization: `Bearer ${await tokenWith(['mcmqtt.admin'])}` } });
    assert.equal(admin.statusCode, 200);
    assert.deepEqual(admin.json(), { tenant: 'acme' });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.tenant, 'acme');
    assert.deepEqual(seen[0]?.scopes, ['mcmqtt.admin']);
    await app.close();
  });

  test('a public route needs no token and has no principal', async () => {
    const app = build();
    const seen: (Principal | null)[] = [];
    app.get('/open', { config: { public: true } }, async (request) => {
      seen.push(request.principal);
      return 'open';
    });
    const answer = await app.inject({ method: 'GET', url: '/open' });
    assert.equal(answer.statusCode, 200);
    assert.deepEqual(seen, [null]);
    await app.close();
  });

  test('an unknown route is 404 without a token: the not-found answer asks for nothing', async () => {
    const app = build();
    app.get('/mine', { config: { scope: 'mcmqtt.read' } }, async () => 'x');
    const answer = await app.inject({ method: 'GET', url: '/nope' });
    assert.equal(answer.statusCode, 404);
    assert.equal(answer.json().errors[0].code, 'request.routeNotFound');
    await app.close();
  });
  test('request.principal never leaks between requests: concurrent callers each see their own, a later public call sees none', async () => {
    const app = build();
    const tokenOf = (tenant: string) => mintDevToken(key, { tenant, scopes: ['mcmqtt.read'], ttlSeconds: 600 });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    app.get('/mine', { config: { scope: 'mcmqtt.read' } }, async (request) => {
      const before = request.principal.tenant;
      await gate; // every request is in flight at once before any answers
      return { before, after: request.principal.tenant };
    });
    const seenByPublic: unknown[] = [];
    app.get('/open', { config: { public: true } }, async (request) => { seenByPublic.push(request.principal); return 'open'; });
    const tenants = ['acme', 'globex', 'initech', 'umbrella'];
    const answers = tenants.map(async (tenant) => app.inject({ method: 'GET', url: '/mine', headers: { authorization: `Bearer ${await tokenOf(tenant)}` } }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A call without a token meanwhile: refused, and it changes nobody's principal.
    assert.equal((await app.inject({ method: 'GET', url: '/mine' })).statusCode, 401);
    release();
    assert.deepEqual((await Promise.all(answers)).map((answer) => answer.json()), tenants.map((tenant) => ({ before: tenant, after: tenant })));
    for (let i = 0; i < 3; i += 1) assert.equal((await app.inject({ method: 'GET', url: '/open' })).statusCode, 200);
    assert.deepEqual(seenByPublic, [null, null, null], 'a public route after scoped ones still has no principal');
    await app.close();
  });
  test('a route registered before authenticate() escaped the startup check: it still needs a token, with the strictest scope', async () => {
    const app = Fastify();
    handleErrors(app);
    app.get('/early', async () => 'reachable');
    authenticate(app, createDevTokenVerifier(key.publicJwk));
    const call = async (scopes?: string[]) => (await app.inject({
      method: 'GET', url: '/early', headers: scopes ? { authorization: `Bearer ${await tokenWith(scopes)}` } : {},
    })).statusCode;
    assert.deepEqual([await call(), await call(['mcmqtt.read']), await call(['mcmqtt.admin'])], [401, 403, 200]);
    await app.close();
  });
});
