import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { signWebhookBody } from '../src/app/post-webhook.ts';

// Security review of webhooks: the verification snippets receivers copy from docs/webhooks.md accept
// exactly what trustgate signs, compare in constant time, and refuse tampered bodies, other secrets,
// old timestamps and malformed headers.

const docs = readFileSync(new URL('../docs/webhooks.md', import.meta.url), 'utf8');
const block = (language: string): string => {
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(docs);
  assert.ok(match, `a ${language} block in docs/webhooks.md`);
  return match[1]!;
};

const secret = 'the-receivers-secret-16+';
const body = JSON.stringify({ id: 'a'.repeat(24), type: 'agent.onboarded', time: '2026-12-03T10:00:00.000Z', tenant: 't', data: { clientId: 't_ümlaut' } });
const now = Math.floor(Date.now() / 1000);
const cases: [string, string, string, boolean][] = [
  ['as signed', signWebhookBody(secret, body, now), body, true],
  ['body changed', signWebhookBody(secret, body, now), body.replace('ümlaut', 'umlaut'), false],
  ['another secret', signWebhookBody(`${secret}x`, body, now), body, false],
  ['timestamp 10 minutes old', signWebhookBody(secret, body, now - 600), body, false],
  ['timestamp swapped after signing', signWebhookBody(secret, body, now).replace(`t=${now}`, `t=${now + 1}`), body, false],
  ['short v1', `t=${now},v1=abcd`, body, false],
  ['no header', '', body, false],
  ['uppercase hex', signWebhookBody(secret, body, now).toUpperCase().replace('T=', 't=').replace('V1=', 'v1='), body, false],
];

it('the JavaScript snippet: constant-time, over the raw body and the timestamp', () => {
  const source = block('js');
  assert.match(source, /timingSafeEqual/);
  const verify = new Function('crypto', `${source.replace(/^import .*$/m, 'const { createHmac, timingSafeEqual } = crypto;')}\nreturn verify;`)(crypto) as (h: string, b: string, s: string) => boolean;
  for (const [what, header, raw, expected] of cases) assert.equal(verify(header, raw, secret), expected, what);
});

it('the Python snippet: constant-time (hmac.compare_digest), over the raw bytes and the timestamp', () => {
  const source = block('python');
  assert.match(source, /compare_digest/);
  const script = `${source}\nimport json, sys\nfor header, raw in json.load(sys.stdin):\n    print(verify(header, raw.encode(), ${JSON.stringify(secret)}))\n`;
  const output = execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(cases.map(([, header, raw]) => [header, raw])) }).toString().trim().split('\n');
  assert.deepEqual(output, cases.map(([, , , expected]) => (expected ? 'True' : 'False')));
});
