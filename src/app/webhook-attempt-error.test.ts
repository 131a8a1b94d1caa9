import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DomainError } from '../shared/index.ts';
import { webhookAttemptErrorOf } from './webhook-attempt-error.ts';

// Security review: the deliveries listing is a tenant's window into the operator's network. Node's
// messages name resolved addresses and ports; the listing names only the kind of failure.

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

it('no address, port or internal name in what the tenant reads', () => {
  const cases: [unknown, string][] = [
    [withCode('connect ECONNREFUSED 10.1.2.3:8443', 'ECONNREFUSED'), 'connection refused'],
    [withCode('connect EHOSTUNREACH 192.168.7.7:443', 'EHOSTUNREACH'), 'host unreachable'],
    [withCode('read ECONNRESET', 'ECONNRESET'), 'connection reset by the receiver'],
    [withCode('getaddrinfo ENOTFOUND hooks.internal.corp', 'ENOTFOUND'), 'host name not found'],
    [withCode('hooks.example.com resolves to 10.0.0.8, which TRUSTGATE_WEBHOOK_ALLOWED_HOSTS does not allow', 'EWEBHOOKADDRESS'), 'the host name resolves to an address TRUSTGATE_WEBHOOK_ALLOWED_HOSTS does not allow'],
    [withCode('Hostname/IP does not match certificate\'s altnames: IP: 10.0.0.8 is not in the cert\'s list', 'ERR_TLS_CERT_ALTNAME_INVALID'), 'TLS handshake failed (ERR_TLS_CERT_ALTNAME_INVALID)'],
    [withCode('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), 'TLS handshake failed (DEPTH_ZERO_SELF_SIGNED_CERT)'],
    [withCode('Parse Error: Expected HTTP/', 'HPE_INVALID_CONSTANT'), 'the answer was not valid HTTP'],
    [new Error('no answer within 10000 ms'), 'no answer within 10000 ms'],
    [new Error('something about 10.9.9.9:22'), 'the request failed without an answer'],
    ['a string', 'the request failed without an answer'],
    [new DomainError('webhook.hostNotAllowed', 'The host evil.example is not in the operator\'s TRUSTGATE_WEBHOOK_ALLOWED_HOSTS.'), 'The host evil.example is not in the operator\'s TRUSTGATE_WEBHOOK_ALLOWED_HOSTS.'],
  ];
  for (const [error, reason] of cases) assert.equal(webhookAttemptErrorOf(error), reason);
});
