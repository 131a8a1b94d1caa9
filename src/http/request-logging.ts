import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

// What the HTTP server logs per request, for incidents: an id to follow a request through a
// proxy's and trustgate's logs, and probe traffic kept out of the info level.

/** A request id the caller (a proxy, a load balancer) may choose: bounded, and nothing that could
 *  break a log line or a header (no CR/LF, no spaces, ASCII only). */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:=+/-]{1,128}$/;

/** The request id: the `X-Request-Id` header if acceptable, else a fresh UUID. It is the error
 *  body's `logref` and every log line's `reqId`. */
export const requestIdOf = (request: IncomingMessage): string => {
  const header = request.headers['x-request-id'];
  return typeof header === 'string' && ACCEPTABLE_REQUEST_ID.test(header) ? header : randomUUID();
};

/** Called by load balancers and Prometheus every few seconds: their request lines are debug. */
const PROBE_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
const isProbe = (request: FastifyRequest): boolean => PROBE_ROUTES.has(request.routeOptions.url ?? '');

/** Fastify's request lines, at debug for the probes; anything else as Fastify logs it. */
export class ProbesAtDebug extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (!isProbe(request)) return super.incomingRequest(request, reply, metadata);
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (error || !isProbe(request)) return super.requestCompleted(error, request, reply, metadata);
    // A refused caller (a wrong or missing TRUSTGATE_METRICS_TOKEN) is no probe: at info, with its
    // address (its incoming line was at debug), so guessing the token shows.
    if (reply.statusCode === 401 || reply.statusCode === 403) {
      if (!this.isLogDisabled(request)) reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
      return;
    }
    if (!this.isLogDisabled(request)) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
