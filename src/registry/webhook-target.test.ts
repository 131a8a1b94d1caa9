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
    // Security review: odd spellings are read as the address they are, then matched exactly.
    ['https://127.1/in', 'accepted'],
    ['https://017700000001/in', 'accepted'],
    ['https://0x7f.1/in', 'webhook.hostNotAllowed', { ...policy, allowedHosts: ['hooks.example.com'] }],
    ['https://2130706433/in', 'webhook.hostNotAllowed', { ...policy, allowedHosts: ['hooks.example.com'] }],
    ['https://0/in', 'webhook.hostNotAllowed'], // 0.0.0.0
    ['https://[::]/in', 'webhook.hostNotAllowed'],
    ['https://[::ffff:127.0.0.1]/in', 'webhook.hostNotAllowed'], // ::ffff:7f00:1, not the listed 127.0.0.1
    ['https://[fe80::1%25eth0]/in', 'webhook.urlInvalid'], // zone ids: not a URL
    ['https://hooks.example.com./in', 'webhook.hostNotAllowed'], // the trailing dot is another name
    ['https://HOOKS.EXAMPLE.COM/in', 'accepted'],
    ['https://hööks.example.com/in', 'webhook.hostNotAllowed'], // xn--hks-snaa.example.com
    ['https://hooks.example.com@evil.com/in', 'webhook.urlInvalid'], // userinfo: the host is evil.com
    ['https://hooks.example.com%2f@evil.com/in', 'webhook.urlInvalid'],
    ['https://evil.com\\@hooks.example.com/in', 'webhook.hostNotAllowed'], // a backslash is a slash: host evil.com
    ['https:\\\\evil.com/in', 'webhook.hostNotAllowed'],
    ['https://hooks.example.com%00.evil.com/in', 'webhook.urlInvalid'],
    ['https://evil.com?@hooks.example.com/in', 'webhook.hostNotAllowed'],
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
    // Security review: the same special addresses in other spellings.
    ['hooks.example.com', '::ffff:7f00:1', false], // 127.0.0.1 mapped, hex
    ['hooks.example.com', '::ffff:a9fe:a9fe', false], // 169.254.169.254 mapped, hex
    ['hooks.example.com', '::127.0.0.1', false], // IPv4-compatible
    ['hooks.example.com', '64:ff9b::a9fe:a9fe', false], // NAT64 to the metadata address
    ['hooks.example.com', '64:ff9b::169.254.169.254', false],
    ['hooks.example.com', '64:ff9b::c633:6404', true], // NAT64 to 198.51.100.4
    ['hooks.example.com', '2002:7f00:1::1', false], // 6to4 carrying 127.0.0.1
    ['hooks.example.com', 'fe8f::1', false],
    ['hooks.example.com', 'FF02::1', false],
    ['hooks.example.com', '255.255.255.255', false],
    ['hooks.example.com', '240.0.0.1', false],
    ['hooks.example.com', 'not-an-address', false],
    ['hooks.example.com', '::ffff:127.0.0.1', false],
    ['hooks.example.com', '0:0:0:0:0:ffff:7f00:0001', false],
    ['hooks.example.com', '::ffff:198.51.100.4', true],
    ['hooks.example.com', '2001:db8::1', true],
    ['hooks.example.com', '1:2:3:4:5:6:7:8:9', false],
    ['hooks.example.com', '1::2::3', false],
    ['hooks.example.com', '256.0.0.1', false],
    // The documented policy: a listed name may resolve to private (RFC 1918, ULA) addresses, the
    // operator's internal receiver; only loopback, link-local, metadata and multicast are refused.
    ['hooks.example.com', '192.168.1.10', true],
    ['hooks.example.com', 'fd00::10', true],
  ];
  for (const [host, address, allowed] of cases) {
    it(`${host} → ${address}: ${allowed}`, () => assert.equal(isWebhookAddressAllowed(host, address, policy), allowed));
  }
  it('special addresses', () => {
    assert.deepEqual(['127.0.0.1', '169.254.0.1', '::1', '::', 'fe80::1', 'ff02::1', '255.255.255.255', '8.8.8.8', '2001:db8::1'].map(isSpecialAddress),
      [true, true, true, true, true, true, true, false, false]);
  });
});
