import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkWebhookUrl, isWebhookAddressAllowed, webhookHostOf, type WebhookTargetPolicy } from '../registry/index.ts';

// One delivery attempt of a webhook (issue 19 part 3, decision 0035): POST the stored body, signed.
// SSRF: the URL is checked against the operator's allow-list again (it may have changed since the
// webhook was registered), every address the host name resolves to is checked, and the socket
// connects to an address from that same answer (the `lookup` below), so there is no window for a
// second DNS answer. node:http(s) never follows a redirect: a 3xx is a failed attempt like any
// non-2xx. (Node's fetch would need undici's Agent for the same `connect` hook; undici is not a
// dependency.)

/** The Trustgate-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, as Stripe signs. */
export const signWebhookBody = (secret: string, body: string, unixSeconds: number): string =>
  `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;

export interface WebhookPost {
  readonly url: string;
  readonly secret: string;
  readonly body: string;
  readonly eventId: string;
  readonly deliveryId: string;
  readonly policy: WebhookTargetPolicy;
  readonly timeoutMs: number;
  readonly now: Date;
  /** Aborts the attempt (shutdown). */
  readonly signal?: AbortSignal;
}

export interface WebhookResponse {
  readonly status: number;
  /** The first bytes of the response body, for GET /webhooks/{id}/deliveries. */
  readonly body: string;
}

const SNIPPET_BYTES = 256;

/** A lookup that answers only with addresses the policy allows for `host`, failing the connection otherwise. */
const checkedLookup = (host: string, policy: WebhookTargetPolicy): LookupFunction => (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, '', 0);
    const refused = addresses.find((address) => !isWebhookAddressAllowed(host, address.address, policy));
    if (refused || addresses.length === 0) {
      return callback(Object.assign(new Error(`${hostname} resolves to ${refused?.address ?? 'nothing'}, which TRUSTGATE_WEBHOOK_ALLOWED_HOSTS does not allow`), { code: 'EWEBHOOKADDRESS' }), '', 0);
    }
    if (options.all) return (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

const readSnippet = (response: IncomingMessage): Promise<string> => new Promise((resolve) => {
  const chunks: Buffer[] = [];
  let size = 0;
  const done = (): void => {
    response.removeAllListeners('data');
    resolve(Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8'));
  };
  response.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= SNIPPET_BYTES) {
      done();
      response.destroy();
    }
  });
  response.on('end', done);
  response.on('error', done);
  response.on('close', done);
});

/** POSTs one delivery; resolves with the response (any status), rejects for no response (refused address, DNS, connection, timeout). */
export const postWebhook = async (post: WebhookPost): Promise<WebhookResponse> => {
  const url = checkWebhookUrl(post.url, post.policy);
  const host = webhookHostOf(url);
  // An IP literal is not looked up: the allow-list check above named it.
  const timestamp = Math.floor(post.now.getTime() / 1000);
  const signal = post.signal ? AbortSignal.any([post.signal, AbortSignal.timeout(post.timeoutMs)]) : AbortSignal.timeout(post.timeoutMs);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<WebhookResponse>((resolve, reject) => {
    const request = send(url, {
      method: 'POST',
      lookup: checkedLookup(host, post.policy),
      signal,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(post.body),
        'user-agent': 'trustgate-webhooks',
        'trustgate-signature': signWebhookBody(post.secret, post.body, timestamp),
        'trustgate-event-id': post.eventId,
        'trustgate-delivery-id': post.deliveryId,
      },
    }, (response) => {
      readSnippet(response).then((body) => resolve({ status: response.statusCode ?? 0, body }), reject);
    });
    request.on('error', (error: Error) => reject(signal.aborted && error.name === 'AbortError' ? new Error(`no answer within ${post.timeoutMs} ms`) : error));
    request.end(post.body);
  });
};
