import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A local HTTP receiver for webhook tests: records every request (path, headers, raw body) and
// answers as `respond` says (200 unless changed).

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly json: any;
  /** The status this receiver answered. */
  readonly answered: number;
  readonly at: number;
}

export interface WebhookReceiver {
  readonly port: number;
  readonly url: (path?: string) => string;
  readonly requests: ReceivedRequest[];
  /** What to answer the next requests: a status, or a function writing the response itself. */
  respond: (request: IncomingMessage, response: ServerResponse) => void;
  close(): Promise<void>;
}

export const startWebhookReceiver = async (): Promise<WebhookReceiver> => {
  const requests: ReceivedRequest[] = [];
  const receiver = {
    respond: (_request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(200).end('ok');
    },
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      receiver.respond(request, response);
      requests.push({ path: request.url ?? '', headers: request.headers, body, json, answered: response.statusCode, at: Date.now() });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    port,
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
};

/** Verifies a Trustgate-Signature header over the raw body, as docs/webhooks.md tells receivers to. */
export const verifyWebhookSignature = (header: string | undefined, body: string, secret: string, toleranceSeconds = 300): boolean => {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  if (Math.abs(Date.now() / 1000 - Number(match[1])) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'));
};
