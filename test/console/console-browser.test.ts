import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { newTenant } from '../support/api-helpers.ts';
import { mosquittoAgentArgs, RunningProcess } from '../support/broker-helpers.ts';
import { servicesRequired } from '../support/test-services.ts';
import { REPO_ROOT } from '../support/spawn-server.ts';

// The web console in Debian's Chromium, against a real server (issue 17): sign in with the link
// `trustgate console` prints, upload a CA made by openssl, verify it in the page with its key
// file, connect an agent with mosquitto_sub, watch it come online without a reload, disable it
// and watch it be kicked and go offline. Every request the page makes is recorded: none may carry
// the CA's private key in any encoding, and the tab's storage holds nothing but the token.
// One browser for the whole file; one context (a fresh tab's storage) per case. The three cases
// cover an RSA and two EC CAs and the three key formats; test/console/console-crypto.test.ts
// covers every format and curve against OpenSSL without a browser.

// Debian's; another build elsewhere with TRUSTGATE_TEST_CHROMIUM.
const CHROMIUM = process.env.TRUSTGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
// STACK.md: Debian's Chromium, no downloads, no sandbox (root in CI), no background traffic.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'console');
const run = promisify(execFile);
const openssl = async (...args: string[]): Promise<string> => (await run('openssl', args, { encoding: 'utf8' })).stdout;

interface Case { name: string; keyFormat: string; makeKey: string[]; upload: 'file' | 'paste' | 'drop' }
const CASES: Case[] = [
  { name: 'RSA CA, PKCS#1 key (BEGIN RSA PRIVATE KEY)', keyFormat: 'RSA PRIVATE KEY', makeKey: ['genrsa', '-traditional', '-out', 'KEY', '2048'], upload: 'file' },
  { name: 'EC P-256 CA, SEC1 key (BEGIN EC PRIVATE KEY)', keyFormat: 'EC PRIVATE KEY', makeKey: ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'KEY'], upload: 'paste' },
  { name: 'EC P-384 CA, PKCS#8 key (BEGIN PRIVATE KEY)', keyFormat: 'PRIVATE KEY', makeKey: ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'KEY'], upload: 'drop' },
];

const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`;

/** Every encoding of `der` a page could send it in: base64 at each byte alignment, base64url, hex. Middle slices, so framing does not hide them. */
const encodingsOf = (der: Buffer): string[] => {
  const needles: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const base64 = der.subarray(shift).toString('base64');
    const middle = base64.slice(8, 8 + 48);
    needles.push(middle, middle.replaceAll('+', '-').replaceAll('/', '_'));
  }
  const hex = der.toString('hex');
  needles.push(hex.slice(10, 74), hex.slice(10, 74).toUpperCase());
  return needles;
};

/** The key's bytes as the page might hold them: the file's DER, its PKCS#8 form, and the private scalar or exponent. */
const secretNeedles = async (keyFile: string, keyPem: string): Promise<string[]> => {
  const fileDer = Buffer.from(keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const pkcs8Pem = await openssl('pkcs8', '-topk8', '-nocrypt', '-in', keyFile);
  const pkcs8Der = Buffer.from(pkcs8Pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const text = await openssl('pkey', '-in', keyFile, '-noout', '-text');
  const secret = /(?:privateExponent|priv):\s*\n([\s0-9a-f:]+)/.exec(text)![1]!.replace(/[\s:]/g, '').replace(/^00/, '');
  return [...encodingsOf(fileDer), ...encodingsOf(pkcs8Der), secret.slice(0, 48), Buffer.from(secret, 'hex').toString('base64').slice(4, 40)];
};

interface Recorded { method: string; url: string; headers: Record<string, string>; body: string }

describe('the web console in Chromium', { timeout: 180_000 }, () => {
  if (missing) {
    if (servicesRequired) test('the web console in Chromium', () => { throw new Error(`TRUSTGATE_TEST_REQUIRE_SERVICES=1 but ${missing}`); });
    else test('the web console in Chromium', { skip: missing }, () => undefined);
    return;
  }
  let browser: Browser;
  let server: TestServer;
  let dir: string;

  before(async () => {
    const { chromium } = await import('playwright-core');
    [browser, server, dir] = await Promise.all([
      chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS }),
      startTestServer(),
      mkdtemp(join(tmpdir(), 'console-browser-')),
    ]);
    await mkdir(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A fresh tab that records every request it makes, its console messages and CSP violations. */
  const openTab = async (): Promise<{ context: BrowserContext; page: Page; requests: Recorded[]; messages: string[] }> => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 800 }, acceptDownloads: true });
    const page = await context.newPage();
    const requests: Recorded[] = [];
    const messages: string[] = [];
    page.on('request', (request) => {
      requests.push({ method: request.method(), url: request.url(), headers: request.headers(), body: request.postData() ?? '' });
    });
    page.on('console', (message) => { messages.push(`${message.type()}: ${message.text()}`); });
    page.on('pageerror', (error) => { messages.push(`pageerror: ${error.message}`); });
    // A violation also fires this DOM event; it is reported on the console like Chromium's own line.
    await page.addInitScript(() => {
      (globalThis as any).document.addEventListener('securitypolicyviolation', (event: any) => console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`));
    });
    // Generous for a loaded 2-core machine; every wait is for an event, never a fixed sleep.
    page.setDefaultTimeout(15_000);
    return { context, page, requests, messages };
  };

  const shot = async (page: Page, name: string): Promise<void> => {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  };

  const cspProblems = (messages: string[]): string[] => messages.filter((m) => /Content Security Policy|CSP violation|Refused to/i.test(m));

  test('sign-in: the token in the link goes to sessionStorage and leaves the address bar; a pasted one works; sign out forgets it', async () => {
    const tenant = newTenant('console');
    const { context, page, messages } = await openTab();
    try {
      await page.goto(`${server.url}/console`);
      await page.getByRole('heading', { name: 'Sign in to trustgate' }).waitFor();
      assert.equal(new URL(page.url()).pathname, '/console/', '/console is sent to /console/');
      await page.getByLabel('Bearer token').fill('not a token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('This is not a JWT').waitFor();
      await shot(page, 'sign-in');
      await page.getByLabel('Bearer token').fill(await server.token(tenant));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'CA certificates' }).waitFor();
      assert.equal(await page.locator('#tenant').textContent(), tenant);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in to trustgate' }).waitFor();
      assert.deepEqual(await page.evaluate(() => ({ ...(globalThis as any).sessionStorage })), {});

      // The link `trustgate console` prints, in a tab that shows the console already (only the fragment changes)…
      const token = await server.token(tenant);
      await page.goto(`${server.url}/console/#token=${token}`);
      await page.getByRole('heading', { name: 'CA certificates' }).waitFor();
      assert.ok(!page.url().includes(token) && !page.url().includes('token='), page.url());
      assert.deepEqual(await page.evaluate(() => ({ ...(globalThis as any).sessionStorage })), { 'trustgate.token': token });
      // …and in a new tab: taken in, removed from the address and from the history entry (replaced, not added).
      const fresh = await context.newPage();
      await fresh.goto(`${server.url}/console/#token=${token}`);
      await fresh.getByRole('heading', { name: 'CA certificates' }).waitFor();
      assert.equal(new URL(fresh.url()).hash, '#/ca-certificates');
      // about:blank, then the console: the link's own entry was rewritten, none was added after it.
      assert.equal(await fresh.evaluate(() => (globalThis as any).history.length), 2);
      assert.deepEqual(await fresh.evaluate(() => ({ ...(globalThis as any).sessionStorage })), { 'trustgate.token': token });
      assert.deepEqual(cspProblems(messages), []);
      assert.deepEqual(await context.cookies(), []);
    } finally {
      await context.close();
    }
  });

  test('agents follow the server\'s event stream when it has one (fetch with the Bearer token): full list, changes, deletions', async () => {
    const tenant = newTenant('console');
    const { context, page, requests, messages } = await openTab();
    const agent = (id: string, online: boolean) => ({
      id, clientId: `${tenant}_${id}`, commonName: id, caCertificateId: 'c'.repeat(24), certificateFingerprint: 'f'.repeat(64),
      certificate: { serialNumber: '1', notBefore: new Date().toISOString(), notAfter: new Date(Date.now() + 86_400_000 * 90).toISOString(), fingerprintSha256: 'f'.repeat(64) },
      enabled: true, online, firstConnectedAt: new Date().toISOString(), lastConnectedAt: new Date().toISOString(),
    });
    try {
      // What the stream of GET /agents/events sends (docs/console.md); played here so this test
      // does not depend on the server having it.
      await page.route('**/api/mindconnectmqtt/v3/agents/events', (route) => route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' },
        body: `: ping\n\nevent: agents\ndata: ${JSON.stringify([agent('pump-a', false), agent('pump-b', true)])}\n\n`
          + `event: agent\ndata: ${JSON.stringify(agent('pump-a', true))}\n\n: ping\n\nevent: agentDeleted\ndata: {"id":"pump-b"}\n\n`,
      }));
      await page.goto(`${server.url}/console/#token=${await server.token(tenant)}`);
      await page.getByRole('link', { name: 'Agents', exact: true }).click();
      await page.locator(`tr[data-client-id="${tenant}_pump-a"] [data-online="true"]`).waitFor();
      assert.equal(await page.locator(`tr[data-client-id="${tenant}_pump-b"]`).count(), 0, 'the deleted agent left the table');
      const streamAt = requests.findIndex((r) => r.url.endsWith('/agents/events'));
      assert.match(requests[streamAt]?.headers.authorization ?? '', /^Bearer ey/);
      assert.equal(requests.slice(streamAt).filter((r) => new URL(r.url).pathname === '/api/mindconnectmqtt/v3/agents').length, 0, 'no polling while the server has a stream (it reconnects when one ends)');
      assert.deepEqual(cspProblems(messages), []);
    } finally {
      await context.close();
    }
  });

  test('audit trail: filters go into the query, "Load more" follows nextCursor; a server without it says so', async () => {
    const tenant = newTenant('console');
    const { context, page, messages } = await openTab();
    const queries: URLSearchParams[] = [];
    const event = (n: number) => ({
      time: new Date(Date.UTC(2026, 11, 3, 8, n)).toISOString(), actor: { type: 'token', id: 'dev-user@acme' }, action: 'agent.disabled',
      target: `agent:acme_pump-${n}`, outcome: 'success', requestId: `req-${n}`, sourceAddress: '127.0.0.1',
    });
    try {
      // The audit route (issue 16) played here, so this test does not depend on the server having it.
      await page.route('**/api/mindconnectmqtt/v3/auditEvents?*', (route) => {
        const query = new URL(route.request().url()).searchParams;
        queries.push(query);
        return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(query.get('cursor')
          ? { auditEvents: [event(3)], nextCursor: null } : { auditEvents: [event(1), event(2)], nextCursor: 'abc' }) });
      });
      await page.goto(`${server.url}/console/#token=${await server.token(tenant)}`);
      await page.getByRole('link', { name: 'Audit trail' }).click();
      await page.getByText('agent:acme_pump-2').waitFor();
      await page.getByLabel('Action').fill('agent.disabled');
      await page.getByLabel('Since').fill('2026-12-01T00:00');
      await page.getByRole('button', { name: 'Show' }).click();
      await page.getByRole('button', { name: 'Load more' }).click();
      await page.getByText('agent:acme_pump-3').waitFor();
      assert.equal(await page.locator('table[aria-label="Audit events"] tbody tr').count(), 3);
      assert.equal(await page.getByRole('button', { name: 'Load more' }).isVisible(), false);
      const last = queries.at(-1)!;
      assert.equal(last.get('cursor'), 'abc');
      assert.equal(last.get('action'), 'agent.disabled');
      assert.match(last.get('since') ?? '', /^2026-12-01T\d{2}:00:00\.000Z$/);
      assert.equal(last.get('limit'), '50');
      // An older server without the route (this one has it since issue 16): its 404, played here too.
      await page.unroute('**/api/mindconnectmqtt/v3/auditEvents?*');
      await page.route('**/api/mindconnectmqtt/v3/auditEvents?*', (route) => route.fulfill({
        status: 404, contentType: 'application/json',
        body: JSON.stringify({ errors: [{ code: 'request.routeNotFound', logref: 'x', message: 'No route GET /api/mindconnectmqtt/v3/auditEvents.' }] }),
      }));
      await page.getByRole('button', { name: 'Show' }).click();
      await page.locator('[data-unavailable="true"]').waitFor();
      assert.deepEqual(cspProblems(messages), []);
    } finally {
      await context.close();
    }
  });

  test('keyboard: the skip link comes first, the page links work with Enter, the focus is visible; a hostile CA name is shown as text', async () => {
    const tenant = newTenant('console');
    const { context, page, messages } = await openTab();
    try {
      // A name stored through the API that would be script if the page built markup from strings.
      const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
      const caDir = await mkdtemp(join(dir, 'hostile-'));
      await openssl('req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(caDir, 'ca.key'),
        '-subj', '/CN=hostile root', '-days', '20', '-out', join(caDir, 'ca.pem'), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
      const uploaded = await server.api(tenant, '/caCertificates', { body: { name: hostile, caCertificate: await readFile(join(caDir, 'ca.pem'), 'utf8') } });
      assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
      await page.goto(`${server.url}/console/#token=${await server.token(tenant)}`);
      await page.getByRole('heading', { name: 'CA certificates' }).waitFor();
      await page.locator('table[aria-label="CA certificates"] td', { hasText: hostile }).waitFor();
      assert.equal(await page.locator('main img, main script').count(), 0);
      assert.equal(await page.evaluate(() => (globalThis as any).pwned), undefined);
      assert.deepEqual(cspProblems(messages), []);
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement.textContent), 'Skip to content');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement.textContent), 'Agents');
      // The focused link shows an outline (:focus-visible).
      assert.equal(await page.evaluate(() => (globalThis as any).getComputedStyle((globalThis as any).document.activeElement).outlineStyle), 'solid');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Agents', exact: true }).waitFor();
      assert.equal(new URL(page.url()).hash, '#/agents');
    } finally {
      await context.close();
    }
  });

  for (const [index, testCase] of CASES.entries()) {
    test(`${testCase.name}: upload (${testCase.upload}), verify in the page, agent online live, disable kicks it; the key never leaves`, async () => {
      const tenant = newTenant('console');
      const caseDir = join(dir, `case-${index}`);
      await mkdir(caseDir);
      const keyFile = join(caseDir, 'ca.key');
      const certFile = join(caseDir, 'ca.pem');
      await openssl(...testCase.makeKey.map((a) => (a === 'KEY' ? keyFile : a)));
      await openssl('req', '-x509', '-new', '-key', keyFile, '-subj', `/O=Console Test/CN=${tenant} root`, '-days', '20', '-sha256', '-out', certFile,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
      const keyPem = await readFile(keyFile, 'utf8');
      const caPem = await readFile(certFile, 'utf8');
      assert.match(keyPem, new RegExp(`^-----BEGIN ${testCase.keyFormat}-----`));
      const needles = await secretNeedles(keyFile, keyPem);

      const { context, page, requests, messages } = await openTab();
      const main = index === 0;
      try {
        const token = await server.token(tenant);
        await page.goto(`${server.url}/console/#token=${token}`);
        await page.getByRole('heading', { name: 'CA certificates' }).waitFor();

        // A bad upload: the API's message next to the certificate field.
        if (main) {
          await page.getByLabel('Name', { exact: true }).fill('broken');
          await page.getByLabel('CA certificate (PEM)').fill('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
          await page.getByRole('button', { name: 'Upload' }).click();
          const error = page.locator('#ca-certificate-1-error, [id^="ca-certificate-"][id$="-error"]').first();
          await error.waitFor({ state: 'visible' });
          assert.match(await error.textContent() ?? '', /\((pem|certificate)\.[A-Za-z]+\)/);
        }

        await page.getByLabel('Name', { exact: true }).fill(`${testCase.keyFormat} CA`);
        if (testCase.upload === 'file') {
          await page.locator('#ca-certificate-file').setInputFiles(certFile);
          await page.waitForFunction(() => (globalThis as any).document.querySelector('textarea[name="ca-certificate"]').value.includes('BEGIN CERTIFICATE'));
        } else if (testCase.upload === 'paste') {
          await page.getByLabel('CA certificate (PEM)').fill(caPem);
        } else {
          const transfer = await page.evaluateHandle((pem) => {
            const data = new (globalThis as any).DataTransfer();
            data.items.add(new File([pem], 'ca.pem', { type: 'application/x-pem-file' }));
            return data;
          }, caPem);
          await page.getByLabel('CA certificate (PEM)').dispatchEvent('drop', { dataTransfer: transfer });
          await page.waitForFunction(() => (globalThis as any).document.querySelector('textarea[name="ca-certificate"]').value.includes('BEGIN CERTIFICATE'));
        }
        await page.getByRole('button', { name: 'Upload' }).click();
        await page.getByRole('heading', { name: /^Verify "/ }).waitFor();
        if (main) await shot(page, 'ca-verify-panel');

        if (main) {
          // A key that is not this CA's: refused in the page, nothing posted.
          const otherKey = join(caseDir, 'other.key');
          await openssl('genrsa', '-traditional', '-out', otherKey, '2048');
          await page.locator('#ca-key-file').setInputFiles(otherKey);
          await page.getByRole('button', { name: 'Verify in this browser' }).click();
          await page.getByText(/This key does not belong to the CA certificate/).waitFor();
          assert.equal(requests.filter((r) => r.url.endsWith('/verify')).length, 0, 'nothing was posted for a foreign key');
        }

        await page.locator('#ca-key-file').setInputFiles(keyFile);
        await page.getByRole('button', { name: 'Verify in this browser' }).click();
        await page.getByText(/is verified: agents whose certificates it issued can connect now/).waitFor({ timeout: 15_000 });
        assert.equal(await page.locator('#ca-key-file').inputValue(), '', 'the file input is emptied');
        await page.locator('table[aria-label="CA certificates"] .badge.ok', { hasText: 'Verified' }).waitFor();
        const [ca] = (await server.api(tenant, '/caCertificates')).body;
        assert.equal(ca.isVerified, true);
        if (main) {
          await page.locator('details.fallback summary').click();
          await page.getByText(`npx trustgate ca verify --id ${ca.id}`).waitFor();
          await shot(page, 'ca-certificates');
        }

        // An agent certificate from this CA (openssl), connected with mosquitto_sub and kept connected.
        const agentKey = join(caseDir, 'pump.key');
        const agentCsr = join(caseDir, 'pump.csr');
        const agentCert = join(caseDir, 'pump.pem');
        const extFile = join(caseDir, 'agent.ext');
        await writeFile(extFile, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n');
        await openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', agentKey, '-subj', '/CN=pump-1', '-out', agentCsr);
        await openssl('x509', '-req', '-in', agentCsr, '-CA', certFile, '-CAkey', keyFile, '-set_serial', '0x1234abcd', '-days', '10', '-sha256', '-extfile', extFile, '-out', agentCert);
        const cafile = join(caseDir, 'broker-ca.pem');
        await writeFile(cafile, server.brokerRootCaPem);
        const clientId = `${tenant}_pump-1`;

        await page.getByRole('link', { name: 'Agents', exact: true }).click();
        await page.getByRole('heading', { name: 'Agents', exact: true }).waitFor();
        await page.getByText('No agent has connected yet.').waitFor();
        const sub = new RunningProcess('stdbuf', ['-oL', 'mosquitto_sub', ...mosquittoAgentArgs(server, { cafile, cert: agentCert, key: agentKey }, clientId),
          '-t', `tc/${tenant}/${clientId}/i/#`, '-q', '1', '-d'], { timeoutMs: 60_000 });
        try {
          await sub.waitForOutput(/received SUBACK/, 10_000);
          const row = page.locator(`tr[data-client-id="${clientId}"]`);
          // Without a reload: the table follows the live state (event stream or 2 s polling).
          await row.locator('[data-online="true"]').waitFor({ timeout: 10_000 });
          assert.equal(sub.hasExited, false);
          if (main) {
            await page.getByLabel('Agent certificate (PEM)').fill(await readFile(agentCert, 'utf8'));
            await page.getByRole('button', { name: 'Check' }).click();
            await page.getByText(/The broker would accept this agent as/).waitFor();
            await shot(page, 'agents');
          }
          await row.getByRole('button', { name: 'Disable' }).click();
          await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
          const exit = await sub.waitForExit(10_000);
          assert.notEqual(exit.code, 0, 'mosquitto_sub was disconnected and its reconnection refused');
          await row.locator('[data-online="false"]').waitFor({ timeout: 10_000 });
          await row.locator('[data-disabled="true"]').waitFor();
          assert.equal(await row.getByRole('button', { name: 'Enable' }).count(), 1);
        } finally {
          await sub.kill();
        }

        if (main) {
          await page.getByRole('link', { name: 'Agent certificates' }).click();
          await page.getByLabel('Agent name').fill('bad name!');
          await page.getByRole('button', { name: 'Issue' }).click();
          await page.locator('[id^="agent-name-"][id$="-error"]').getByText(/agentCertificate\.nameInvalid/).waitFor();
          await page.getByLabel('Agent name').fill('sensor-7');
          await page.getByRole('button', { name: 'Issue' }).click();
          await page.getByRole('heading', { name: 'Issued: sensor-7' }).waitFor();
          const downloading = page.waitForEvent('download');
          await page.getByRole('button', { name: 'Download chain' }).click();
          const chain = await readFile(await (await downloading).path(), 'utf8');
          assert.equal(chain.match(/BEGIN CERTIFICATE/g)?.length, 2);
          await shot(page, 'agent-certificates');
          await page.getByRole('link', { name: 'Audit trail' }).click();
          await page.locator('[data-unavailable="true"], table[aria-label="Audit events"], p.empty').first().waitFor();
          await shot(page, 'audit');
          await page.getByRole('link', { name: 'CA certificates' }).click();
          await page.getByRole('button', { name: 'Revocations' }).click();
          await page.getByLabel('Serial number').fill('12:34:AB:CD');
          await page.getByRole('button', { name: 'Revoke', exact: true }).click();
          await page.locator('table[aria-label="Revoked certificates"] td', { hasText: '1234abcd' }).waitFor();
          await shot(page, 'revocations');
        }

        // What the page sent: never the key, in any encoding.
        const apiRequests = requests.filter((r) => r.url.startsWith(server.url));
        assert.ok(apiRequests.some((r) => r.url.endsWith(`/caCertificates/${ca.id}/verify`) && r.body.includes('BEGIN CERTIFICATE')), 'the positive control: the verification certificate was posted');
        for (const request of requests) {
          const sent = `${request.method} ${request.url}\n${JSON.stringify(request.headers)}\n${request.body}`;
          for (const needle of needles) assert.ok(!sent.includes(needle), `a request carried the CA key (${needle.slice(0, 12)}…): ${request.method} ${request.url}`);
          assert.ok(!sent.includes('PRIVATE KEY-----') || !request.url.includes('/verify'), 'no PEM private key in the verification');
        }
        // Nor a console message (the page logs nothing of it; a debugging line left in would show here).
        for (const message of messages) {
          for (const needle of needles) assert.ok(!message.includes(needle), `a console message carried the CA key: ${message.slice(0, 80)}`);
        }
        const stored = await page.evaluate(() => ({ local: { ...(globalThis as any).localStorage }, session: { ...(globalThis as any).sessionStorage } }));
        assert.deepEqual(stored, { local: {}, session: { 'trustgate.token': token } });
        assert.deepEqual(await context.cookies(), []);
        assert.deepEqual(cspProblems(messages), [], messages.join('\n'));
        if (main) {
          // The positive control of the CSP check: an inline script is refused and seen.
          const reported = page.waitForEvent('console', { predicate: (m) => cspProblems([m.text()]).length > 0, timeout: 5_000 });
          await page.evaluate(() => {
            const { document } = globalThis as any;
            const script = document.createElement('script');
            script.textContent = 'window.injected = true';
            document.body.append(script);
          });
          await reported;
          assert.equal(await page.evaluate(() => (globalThis as any).injected), undefined);
        }
      } finally {
        await context.close();
      }
    });
  }
});
