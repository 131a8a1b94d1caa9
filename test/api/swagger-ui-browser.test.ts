import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';

// Swagger UI under the server's security headers, in a real browser (Debian's Chromium, as the
// console's browser tests): it renders the API and the browser reports no CSP violation — the
// headers test alone cannot tell whether the page's inline bootstrap is still allowed to run.

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('Swagger UI in Chromium (REST API)', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)` }, () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    server = await startTestServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the docs page renders the operations with no Content-Security-Policy violation', async () => {
    const page = await browser.newPage();
    const complaints: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content Security Policy|Refused to/i.test(message.text())) complaints.push(message.text());
    });
    page.on('pageerror', (error) => complaints.push(`page error: ${error.message}`));
    // Injected by the browser itself (not subject to the page's CSP): records every violation.
    await page.addInitScript(`
      window.violations = [];
      document.addEventListener('securitypolicyviolation', (event) => {
        window.violations.push(event.violatedDirective + ' ' + event.blockedURI + ' ' + event.sourceFile + ':' + event.lineNumber);
      });
    `);
    const response = await page.goto(`${server.apiUrl}/docs/`);
    assert.equal(response?.status(), 200);
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'trustgate API' }).waitFor({ timeout: 15_000 });
    await page.locator('.opblock-summary-path', { hasText: '/agents/events' }).first().waitFor({ timeout: 15_000 });
    assert.ok(await page.locator('.opblock').count() > 10, 'the operations are listed');
    assert.deepEqual(await page.evaluate('window.violations'), [], 'no CSP violation');
    assert.deepEqual(complaints, [], 'no console error');
    await page.close();
  });
});
