import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../shared/index.ts';
import { checkWebhookUrl, isSpecialAddress, isWebhookAddressAllowed, type WebhookTargetPolicy } from './webhook-target.ts';

// SSRF (issue 19 part 3): hostile URLs and addresses, each with its code.

const policy: WebhookTargetPolicy = { allowedHosts: ['hooks.example.com', '203.0.113.7', '127.0.0.1', '::1', 'localhost'], allowsHttp: false };
const codeOf = (url: string, with_: WebhookTargetPolicy = policy): string => {
  try {
    checkWebhookUrl(url, with_);
    return 'accepted';
  } catch (error) {
    assert.ok(error instanceof DomainError);
    return error.code;
  }
};

describe('checkWebhookUrl', () => {
  const cases: [string, string, WebhookTargetPolicy?][] = [
    ['https://hooks.example.com/in', 'accepted'],
    ['https://HOOKS.example.com:8443/in?x=1', 'accepted'],
    ['https://203.0.113.7/in', 'accepted'],
    ['https://[::1]/in', 'accepted'],
    ['https://hooks.example.com/in', 'webhook.hostsNotConfigured', { allowedHosts: [], allowsHttp: true }],
    ['http://hooks.example.com/in', 'webhook.httpsRequired'],
    ['http://hooks.example.com/in', 'accepted', { ...policy, allowsHttp: true }],
    ['https://evil.example.com/in', 'webhook.hostNotAllowed'],
    ['https://hooks.example.com.evil.com/in', 'webhook.hostNotAllowed'],
    ['https://169.254.169.254/latest/meta-data', 'webhook.hostNotAllowed'],
    ['https://2130706433/in', 'accepted'], // WHATWG URL reads it as 127.0.0.1, which is listed here
    ['https://0x7f.1/in', 'accepted'], // likewise 127.0.0.1
    ['https://2130706434/in', 'webhook.hostNotAllowed'], // 127.0.0.2: not listed
    ['https://user:pw@hooks.example.com/in', 'webhook.urlInvalid'],
    ['https://user@hooks.example.com/in', 'webhook.urlInvalid'],
    ['https://hooks.example.com/in#frag', 'webhook.urlInvalid'],
    ['https://hooks.example.com/in#', 'webhook.urlInvalid'],
    ['ftp://hooks.example.com/in', 'webhook.urlInvalid'],
    ['javascript:alert(1)', 'webhook.urlInvalid'],
    ['//hooks.example.com/in', 'webhook.urlInvalid'],
    [`https://hooks.example.com/${'a'.repeat(2048)}`, 'webhook.urlInvalid'],
  ];
  for (const [url, code, with_] of cases) {
    it(`${url.slice(0, 60)} → ${code}`, () => assert.equal(codeOf(url, with_), code));
  }
});

describe('isWebhookAddressAllowed (every address the name resolves to)', () => {
  const cases: [string, string, boolean][] = [
    ['hooks.example.com', '198.51.100.4', true],
    ['hooks.example.com', '10.0.0.8', true], // a private address the operator's DNS chose for a listed name
    ['hooks.example.com', '127.0.0.1', true], // listed itself
    ['hooks.example.com', '127.0.0.2', false],
    ['hooks.example.com', '169.254.169.254', false],
    ['hooks.example.com', '::ffff:169.254.169.254', false],
    ['hooks.example.com', 'fe80::1', false],
    ['hooks.example.com', '0.0.0.0', false],
    ['hooks.example.com', '224.0.0.1', false],
    ['localhost', '127.0.0.5', true],
    ['unlisted.example.com', '198.51.100.4', false],
  ];
  for (const [host, address, allowed] of cases) {
    it(`${host} → ${address}: ${allowed}`, () => assert.equal(isWebhookAddressAllowed(host, address, policy), allowed));
  }
  it('special addresses', () => {
    assert.deepEqual(['127.0.0.1', '169.254.0.1', '::1', '::', 'fe80::1', 'ff02::1', '255.255.255.255', '8.8.8.8', '2001:db8::1'].map(isSpecialAddress),
      [true, true, true, true, true, true, true, false, false]);
  });
});
