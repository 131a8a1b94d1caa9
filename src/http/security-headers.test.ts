import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { CONSOLE_PATH } from './console/console-routes.ts';
import { securityHeaders } from './security-headers.ts';

// The console's pages set their own Content-Security-Policy (issue 17): the API's helmet must not
// add its `default-src 'none'` to them, nor any other header, while every other route gets it.

const build = async () => {
  // As the real server: /console/ reaches /console.
  const app = Fastify({ routerOptions: { ignoreTrailingSlash: true } });
  await securityHeaders(app, { docsPath: '/docs' });
  app.get('/api/thing', async () => ({ ok: true }));
  app.get(CONSOLE_PATH, async (_request, reply) => reply.header('content-security-policy', "default-src 'self'").type('text/html').send('<p>console</p>'));
  app.get(`${CONSOLE_PATH}/static/*`, async (_request, reply) => reply.type('text/javascript').send('export {};'));
  // A console route that asks helmet for its own settings keeps them.
  app.get(`${CONSOLE_PATH}/own`, { helmet: { contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'self'"] } } } }, async () => 'own');
  app.get('/consoles', async () => 'not the console');
  app.get('/docs/', async (_request, reply) => reply.header('content-security-policy', "default-src 'self'; script-src 'self' 'sha256-x'").type('text/html').send('<p>docs</p>'));
  return app;
};

test('helmet covers the API, leaves /console and /console/* alone, and keeps Swagger UI\'s own CSP', async () => {
  const app = await build();
  try {
    const api = await app.inject('/api/thing');
    assert.equal(api.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'");
    assert.equal(api.headers['x-content-type-options'], 'nosniff');
    assert.equal(api.headers['cache-control'], 'no-store');

    for (const path of [CONSOLE_PATH, `${CONSOLE_PATH}/`, `${CONSOLE_PATH}/static/app.js`]) {
      const page = await app.inject(path);
      assert.equal(page.statusCode, 200, path);
      const csp = page.headers['content-security-policy'];
      assert.ok(csp === undefined || csp === "default-src 'self'", `${path}: only the console's own CSP, got ${String(csp)}`);
      for (const name of ['x-content-type-options', 'x-frame-options', 'referrer-policy', 'cross-origin-opener-policy']) {
        assert.equal(page.headers[name], undefined, `${path}: no ${name} from the API's helmet`);
      }
    }
    assert.equal((await app.inject(`${CONSOLE_PATH}/own`)).headers['content-security-policy'], "default-src 'self'");
    assert.equal((await app.inject('/consoles')).headers['x-content-type-options'], 'nosniff', 'only the console path itself is exempt');

    const docs = await app.inject('/docs/');
    assert.equal(docs.headers['content-security-policy'], "default-src 'self'; script-src 'self' 'sha256-x'");
    assert.equal(docs.headers['x-content-type-options'], 'nosniff');
  } finally {
    await app.close();
  }
});
