import { Counter, type Registry } from 'prom-client';

/** The `reason` label of trustgate_tls_handshake_failures_total (docs/metrics.md). */
export const tlsHandshakeFailureReasons = [
  'notTls', 'certificateRejected', 'clientAlert', 'protocolMismatch', 'timeout', 'connectionClosed', 'other',
] as const;
export type TlsHandshakeFailureReason = typeof tlsHandshakeFailureReasons[number];

// OpenSSL's record layer refuses bytes that are no TLS record: a plain HTTP request, a plain MQTT
// CONNECT to the TLS port, a port scanner's probe.
const NOT_TLS = new Set([
  'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_HTTPS_PROXY_REQUEST', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_RECORD_LENGTH_MISMATCH', 'ERR_SSL_UNKNOWN_PROTOCOL', 'ERR_SSL_RECORD_LAYER_FAILURE',
]);
// The client and the server share no version, cipher suite, group or signature algorithm (an old
// TLS 1.0/1.1 stack: the broker needs TLS 1.2).
const PROTOCOL_MISMATCH = /^ERR_SSL_(UNSUPPORTED_PROTOCOL|NO_SHARED_CIPHER|NO_SHARED_GROUPS|NO_SUITABLE_\w+|VERSION_TOO_LOW|UNEXPECTED_MESSAGE|NO_PROTOCOLS_AVAILABLE)$/;
// A TLS alert from the client (RFC 8446 §6.2) about our certificate: it does not trust the broker's
// CA (unknown_ca: wrong --cafile) or finds the certificate bad, expired or for another name.
const CERTIFICATE_ALERT = /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_\w+|UNSUPPORTED_CERTIFICATE|BAD_CERTIFICATE_\w+)$/;
const ANY_ALERT = /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_/;
// The peer went away mid-handshake: a TCP health check, or a client (Node's among them) that
// rejects the certificate by closing without an alert.
const CONNECTION_CLOSED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);

/** Sorts a `tlsClientError` into a bounded reason by its error code (never by its message text). */
export const tlsHandshakeFailureReason = (error: Error): TlsHandshakeFailureReason => {
  const { code } = error as { readonly code?: unknown };
  if (typeof code !== 'string') return 'other';
  if (NOT_TLS.has(code)) return 'notTls';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (CERTIFICATE_ALERT.test(code)) return 'certificateRejected';
  if (ANY_ALERT.test(code)) return 'clientAlert';
  if (PROTOCOL_MISMATCH.test(code)) return 'protocolMismatch';
  if (CONNECTION_CLOSED.has(code)) return 'connectionClosed';
  return 'other';
};

/** One pre-bound counter child per reason: a failure costs one lookup in a plain object. */
export const createTlsHandshakeFailures = (registry: Registry): Readonly<Record<TlsHandshakeFailureReason, { inc(): void }>> => {
  const failures = new Counter({
    name: 'trustgate_tls_handshake_failures_total',
    help: 'TLS handshakes on the MQTT port that failed, by reason: notTls (plain TCP/HTTP/MQTT bytes), certificateRejected (the client sent an alert about the broker certificate), clientAlert (another alert), protocolMismatch (no common TLS version or cipher), timeout, connectionClosed (the peer left mid-handshake), other',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return Object.fromEntries(tlsHandshakeFailureReasons.map((reason) => {
    const child = failures.labels(reason);
    child.inc(0);
    return [reason, child];
  })) as Record<TlsHandshakeFailureReason, { inc(): void }>;
};
