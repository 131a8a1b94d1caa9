import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tlsHandshakeFailureReason } from './tls-handshake-failures.ts';

const failure = (code?: string): Error => Object.assign(new Error('tls failure'), code === undefined ? {} : { code });

// Codes as Node 24 (OpenSSL 3.5) reports them on a tls.Server's 'tlsClientError' (checked by hand
// with plain HTTP, random bytes, `openssl s_client -CAfile <other CA>`, a TLS 1.0 client, an idle
// connection and a TCP reset); test/e2e/metrics.test.ts drives the first two through a real broker.
test('a tlsClientError is sorted into a bounded reason by its code', () => {
  const cases: [string | undefined, string][] = [
    ['ERR_SSL_HTTP_REQUEST', 'notTls'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'notTls'],
    ['ERR_SSL_PACKET_LENGTH_TOO_LONG', 'notTls'],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'certificateRejected'],
    ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'certificateRejected'],
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'certificateRejected'],
    ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'clientAlert'],
    ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'clientAlert'],
    ['ERR_SSL_UNSUPPORTED_PROTOCOL', 'protocolMismatch'],
    ['ERR_SSL_NO_SHARED_CIPHER', 'protocolMismatch'],
    ['ERR_SSL_UNEXPECTED_MESSAGE', 'protocolMismatch'],
    ['ERR_TLS_HANDSHAKE_TIMEOUT', 'timeout'],
    ['ECONNRESET', 'connectionClosed'],
    ['EPIPE', 'connectionClosed'],
    ['ERR_SSL_SOMETHING_NEW', 'other'],
    [undefined, 'other'],
  ];
  assert.deepEqual(cases.map(([code]) => [code, tlsHandshakeFailureReason(failure(code))]), cases);
});

test('the message text never decides the reason (it may carry attacker-chosen bytes)', () => {
  assert.equal(tlsHandshakeFailureReason(new Error('ERR_SSL_HTTP_REQUEST')), 'other');
  assert.equal(tlsHandshakeFailureReason(Object.assign(new Error('x'), { code: 42 })), 'other');
});
