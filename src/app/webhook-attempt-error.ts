import { DomainError } from '../shared/index.ts';

// What GET /webhooks/{id}/deliveries says about an attempt that got no answer (security review of
// decision 0035). The tenant reads it, so it names the kind of failure, never an address: Node's
// own messages carry the resolved address and port ("connect ECONNREFUSED 10.1.2.3:8443"), and the
// address check's names what an allow-listed name resolves to inside the operator's network. The
// full message stays in the node's log (debug).

const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

const BY_CODE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the receiver',
  EPIPE: 'connection closed by the receiver while sending',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  ENODATA: 'host name has no address',
  EWEBHOOKADDRESS: 'the host name resolves to an address TRUSTGATE_WEBHOOK_ALLOWED_HOSTS does not allow',
  HPE_HEADER_OVERFLOW: 'the answer\'s headers were too large',
  ERR_STREAM_PREMATURE_CLOSE: 'connection closed before an answer',
};

/** The tenant-visible reason an attempt got no answer: a kind, without addresses or ports. */
export const webhookAttemptErrorOf = (error: unknown): string => {
  if (error instanceof DomainError) return error.message; // the allow-list check of the URL the tenant gave
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof message === 'string' && /^no answer within \d+ ms$/.test(message)) return message;
  if (typeof code === 'string') {
    if (BY_CODE[code]) return BY_CODE[code];
    if (code.startsWith('HPE_')) return 'the answer was not valid HTTP';
    if (TLS_CODE.test(code)) return `TLS handshake failed (${code})`;
  }
  return 'the request failed without an answer';
};
