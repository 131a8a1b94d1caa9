import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Registry as MetricsRegistry } from 'prom-client';
import { DomainError } from '../shared/index.ts';

const BEARER = /^Bearer +(\S+)$/i;

// Compared as SHA-256 digests: equal lengths whatever was sent, so neither the comparison nor an
// early length check tells a guesser how much of the token it has right.
const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Whether an Authorization header carries `Bearer <token>`, in constant time. */
export const carriesMetricsToken = (header: string | undefined, token: string): boolean => {
  const sent = header === undefined ? undefined : BEARER.exec(header)?.[1];
  return timingSafeEqual(digest(sent ?? ''), digest(token)) && sent !== undefined;
};

export interface MetricsRouteOptions {
  readonly metrics: MetricsRegistry;
  /** TRUSTGATE_METRICS_TOKEN: unset, /metrics is open and `metrics` must name no tenant or CA. */
  readonly token: string | undefined;
}

// GET /metrics for Prometheus. Public to the authentication hook (no JWT: a scraper has none);
// with TRUSTGATE_METRICS_TOKEN set it checks that static Bearer token itself (SPEC: "set =
// /metrics needs it as a Bearer token").
export const metricsRoute = (app: FastifyInstance, { metrics, token }: MetricsRouteOptions): void => {
  app.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (request, reply) => {
    if (token !== undefined && !carriesMetricsToken(request.headers.authorization, token)) {
      reply.header('www-authenticate', 'Bearer realm="metrics"');
      throw request.headers.authorization === undefined
        ? new DomainError('auth.tokenMissing', '/metrics needs "Authorization: Bearer <TRUSTGATE_METRICS_TOKEN>".')
        : new DomainError('auth.tokenInvalid', 'The Bearer token is not this server\'s TRUSTGATE_METRICS_TOKEN.');
    }
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });
};
