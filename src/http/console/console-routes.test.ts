import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import Fastify from 'fastify';
import { join, relative } from 'node:path';
import { startTestServer, type TestServer } from '../../../test/support/start-test-server.ts';
import { captureLogs } from '../../../test/support/capture-logs.ts';
import { CONSOLE_CSP, CONSOLE_ROOT, consoleRoutes } from './console-routes.ts';

// The console is served by trustgate itself: public static files with a strict CSP, nothing
// outside its folder, no cookie. The browser suite (test/console/console-browser.test.ts) checks
// that the pages work under that CSP; this one checks the headers and the files' discipline.

const filesUnder = async (dir: string): Promise<string[]> => {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(CONSOLE_ROOT, join(e.parentPath, e.name)).split('\\').join('/'));
};

describe('GET /console', () => {
  let server: TestServer;
  const logs = captureLogs('info');
  before(async () => { server = await startTestServer({}, { logger: logs.logger }); });
  after(async () => { await server?.close(); });

  const get = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { redirect: 'manual', ...init });

  const assertConsoleHeaders = (response: Response, what: string) => {
    assert.equal(response.headers.get('content-security-policy'), CONSOLE_CSP, what);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', what);
    assert.equal(response.headers.get('x-frame-options'), 'DENY', what);
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer', what);
    assert.equal(response.headers.get('set-cookie'), null, what);
  };

  test('the start line names the console\'s address', () => {
    assert.equal(logs.find('trustgate HTTP API listening', { console: `${server.url}/console/` }).length, 1);
  });

  test('/console is sent to /console/, which is the page, without a token, with the strict CSP', async () => {
    const redirect = await get('/console');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/console/');
    const page = await get('/console/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assertConsoleHeaders(page, '/console/');
    assert.match(CONSOLE_CSP, /default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'/);
    assert.match(await page.text(), /<script type="module" src="\/console\/js\/app\.js"><\/script>/);
  });

  test('every file of the console folder is served with its type and the console\'s headers', async () => {
    const files = await filesUnder(CONSOLE_ROOT);
    assert.ok(files.includes('js/app.js') && files.includes('console.css'), files.join(', '));
    for (const file of files) {
      const response = await get(`/console/${file}`);
      assert.equal(response.status, 200, file);
      const type = response.headers.get('content-type') ?? '';
      if (file.endsWith('.js')) assert.match(type, /^(text|application)\/javascript/, file);
      if (file.endsWith('.css')) assert.match(type, /^text\/css/, file);
      assertConsoleHeaders(response, file);
      await response.arrayBuffer();
    }
  });

  test('nothing outside the folder, no directory listing, no other method; a 404 still carries the CSP', async () => {
    for (const path of ['/console/../package.json', '/console/%2e%2e/package.json', '/console/js/%2e%2e/%2e%2e/package.json', '/console/js/', '/console/nothing.js', '/console/.gitignore']) {
      const response = await fetch(`${server.url}${path}`, { redirect: 'manual' });
      assert.equal(response.status, 404, path);
      await response.arrayBuffer();
    }
    const missing = await get('/console/nothing.js');
    assertConsoleHeaders(missing, '404');
    const post = await get('/console/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(post.status, 404);
    // The API beside it still needs its token.
    assert.equal((await get('/api/mindconnectmqtt/v3/caCertificates')).status, 401);
  });
});

describe('the one-time sign-in link of the start log (local dev issuer)', () => {
  const linkOf = (logs: ReturnType<typeof captureLogs>, url: string): string => {
    const line = logs.lines.find((entry) => entry.msg.startsWith('console: open '));
    assert.ok(line, 'the start log has the console\'s sign-in line');
    const match = new RegExp(`^console: open ${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/console/#signin=([A-Za-z0-9_-]{43}) to sign in to tenant "default"`).exec(line.msg);
    assert.ok(match, line.msg);
    return match[1]!;
  };
  const trade = (url: string, body: unknown) => fetch(`${url}/console/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  test('the start log prints the link (never a token); the code is traded once for an 8 h admin token of tenant "default", no-store; then refused', async () => {
    const logs = captureLogs('info');
    const server = await startTestServer({}, { logger: logs.logger });
    try {
      const code = linkOf(logs, server.url);
      assert.doesNotMatch(JSON.stringify(logs.lines), /eyJ[A-Za-z0-9_-]{10,}\.eyJ/, 'no JWT in any log line');
      const wrong = await trade(server.url, { code: code.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) });
      assert.equal(wrong.status, 401);
      assert.equal(((await wrong.json()) as any).errors[0].code, 'auth.signInLinkInvalid');
      assert.equal((await trade(server.url, { code: 42 })).status, 400);
      assert.equal((await trade(server.url, { code, tenant: 'other' })).status, 400, 'no tenant of the caller\'s choosing');

      const traded = await trade(server.url, { code });
      assert.equal(traded.status, 200);
      assert.equal(traded.headers.get('cache-control'), 'no-store');
      assert.equal(traded.headers.get('content-security-policy'), CONSOLE_CSP);
      assert.equal(traded.headers.get('access-control-allow-origin'), null);
      const { token, tenant } = (await traded.json()) as { token: string; tenant: string };
      assert.equal(tenant, 'default');
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
      assert.equal(claims.ten, 'default');
      assert.equal(claims.scope, 'mcmqtt.admin');
      assert.equal(claims.exp - claims.iat, 8 * 3600);
      const api = await fetch(`${server.apiUrl}/caCertificates`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(api.status, 200, 'the token works on the API');
      await api.arrayBuffer();
      assert.ok(!JSON.stringify(logs.lines).includes(token), 'the traded token is in no log line');

      const again = await trade(server.url, { code });
      assert.equal(again.status, 401, 'used once');
      assert.equal(((await again.json()) as any).errors[0].code, 'auth.signInLinkInvalid');
    } finally {
      await server.close();
    }
  });

  // The peer address decides, not a header: the same server reached on a non-loopback address of this machine.
  const external = Object.values(networkInterfaces()).flat().find((entry) => entry && entry.family === 'IPv4' && !entry.internal)?.address;
  test('the right code from another machine\'s address is refused and stays unspent; X-Forwarded-For changes nothing', { skip: external ? false : 'no non-loopback IPv4 address on this machine' }, async () => {
    const logs = captureLogs('info');
    const server = await startTestServer({ TRUSTGATE_HTTP_HOST: '0.0.0.0' }, { logger: logs.logger });
    try {
      const code = linkOf(logs, server.url.replace('127.0.0.1', 'localhost'));
      const port = new URL(server.url).port;
      const remote = await fetch(`http://${external}:${port}/console/sign-in`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '127.0.0.1' }, body: JSON.stringify({ code }),
      });
      assert.equal(remote.status, 401);
      assert.equal(((await remote.json()) as any).errors[0].code, 'auth.signInLinkInvalid');
      // Positive control: the same code from this machine still works (it was not spent).
      assert.equal((await trade(server.url, { code })).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe('symlinks in the console folder are not followed', () => {
  test('a link to a file or a folder outside is a 404; the regular files beside it are served', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'console-symlinks-'));
    const root = join(dir, 'console');
    await mkdir(join(root, 'js'), { recursive: true });
    await writeFile(join(root, 'index.html'), '<!doctype html><title>t</title>');
    await writeFile(join(root, 'js', 'app.js'), 'export {};');
    await mkdir(join(dir, 'outside'));
    await writeFile(join(dir, 'outside', 'secret.txt'), 'the secret');
    await symlink(join(dir, 'outside', 'secret.txt'), join(root, 'js', 'secret.js'));
    await symlink(join(dir, 'outside'), join(root, 'linked'));
    const app = Fastify();
    try {
      await app.register(consoleRoutes, { prefix: '/console', root: `${root}/` });
      const get = (url: string) => app.inject({ method: 'GET', url });
      assert.equal((await get('/console/js/app.js')).statusCode, 200, 'positive control: a regular file');
      assert.equal((await get('/console/')).statusCode, 200);
      for (const url of ['/console/js/secret.js', '/console/linked/secret.txt']) {
        const answer = await get(url);
        assert.equal(answer.statusCode, 404, url);
        assert.doesNotMatch(answer.body, /the secret/, url);
        assert.equal(answer.headers['content-security-policy'], CONSOLE_CSP, url);
      }
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('no sign-in link where it could never work', () => {
  const external = Object.values(networkInterfaces()).flat().find((entry) => entry && entry.family === 'IPv4' && !entry.internal)?.address;
  test('a server bound to a non-loopback address only prints the plain console URL, and POST /console/sign-in is a 404', { skip: external ? false : 'no non-loopback IPv4 address on this machine' }, async () => {
    const logs = captureLogs('info');
    const server = await startTestServer({ TRUSTGATE_HTTP_HOST: external! }, { logger: logs.logger });
    try {
      assert.equal(logs.lines.filter((line) => line.msg.startsWith('console: open ')).length, 0);
      assert.equal(logs.lines.filter((line) => line.msg.startsWith('console: http://')).length, 1);
      const port = new URL(server.url).port;
      const answer = await fetch(`http://${external}:${port}/console/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":"x"}' });
      assert.equal(answer.status, 404);
      await answer.arrayBuffer();
    } finally {
      await server.close();
    }
  });
});

describe('the console\'s files keep to the CSP and need no network but this server', () => {
  test('no inline script or style, no eval, no innerHTML, no URL of another host, imports only relative', async () => {
    for (const file of await filesUnder(CONSOLE_ROOT)) {
      const text = await readFile(join(CONSOLE_ROOT, file), 'utf8');
      if (file.endsWith('.html')) {
        assert.doesNotMatch(text, /<script(?![^>]*\bsrc=)[^>]*>/i, `${file}: inline script`);
        assert.doesNotMatch(text, /<style|\sstyle=|\son[a-z]+=/i, `${file}: inline style or handler`);
      }
      if (file.endsWith('.js')) {
        assert.doesNotMatch(text, /\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|\beval\(|new Function\(|setAttribute\('style'|\.style\./, `${file}: markup from strings, eval or inline style`);
        for (const [, specifier] of text.matchAll(/^\s*(?:import|export)\b[^'"]*from\s+'([^']+)'/gm)) {
          assert.match(specifier!, /^\.\.?\//, `${file} imports ${specifier}: only the console's own modules`);
        }
        assert.doesNotMatch(text, /localStorage|document\.cookie|indexedDB/, `${file}: only the token, only in sessionStorage`);
      }
      assert.doesNotMatch(text, /https?:\/\/(?!localhost)[a-z0-9.-]+\.[a-z]{2,}/i, `${file}: a URL of another host (CDN)`);
    }
  });
});
