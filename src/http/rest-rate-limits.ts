import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import type { AuditTrail } from '../registry/index.ts';
import { DomainError } from '../shared/index.ts';
import { describeWindow, rateBudgets, type RateBudget, type RateWindow, type RestRateLimits } from './rate-limit-budgets.ts';
import { rateLimitRefusals } from './rate-limit-refusals.ts';
import { rateLimitStore } from './rate-limit-store.ts';

// REST rate limits per tenant and route (SPEC "Audit trail and limits", docs/limits.md, decision
// 0024), with @fastify/rate-limit's limiters and stores. Checked at onRequest right after the
// token (authenticate.ts runs first: the tenant is the token's), before the body is read, so a
// refused call costs no parsing. One limiter per window: a route with "2 per 30 s and 10 per hour"
// must pass both, and the 429 names the window that refused.

export interface RestRateLimitOptions {
  readonly rest: RestRateLimits;
  /** The API base path, stripped from route patterns (policies name `/caCertificates`). */
  readonly basePath: string;
  /** The cluster's Redis (a fail-fast connection) so all nodes share one budget; undefined on one node. */
  readonly redis: Redis | undefined;
  readonly redisKeyPrefix: string;
  readonly auditTrail: AuditTrail | undefined;
  readonly metrics: MetricsRegistry;
  readonly namesTenants: boolean;
  readonly logger: Logger;
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;
type Counted = Extract<Awaited<ReturnType<Limiter>>, { isAllowed: false }>;

/** A policy that cannot apply to this API (a route it does not have): a configuration error, not a bug. */
export class RateLimitPolicyError extends Error {
  override name = 'RateLimitPolicyError';
}

const seconds = (ttlInSeconds: number): number => Math.max(1, ttlInSeconds);

/** Installs the limits; the returned check fails the start when a policy names a route that does not exist. */
export const limitRestRates = async (app: FastifyInstance, options: RestRateLimitOptions): Promise<{ checkRoutes(): void }> => {
  const budgets = rateBudgets(options.rest, options.basePath);
  const refusals = rateLimitRefusals({ metrics: options.metrics, namesTenants: options.namesTenants, auditTrail: options.auditTrail, now: () => new Date() });
  app.addHook('onClose', async () => refusals.close());
  // Cluster only: each increase is a count this node made alone (Redis unusable), i.e. a budget not shared.
  const countedLocally = options.redis ? new Counter({
    name: 'trustgate_http_rate_limit_local_counts_total',
    help: 'Cluster only: REST rate-limit counts made in this node\'s memory because Redis could not be used (the budget is per node meanwhile)',
    registers: [options.metrics],
  }) : undefined;

  await app.register(rateLimit, {
    // No route is limited by the plugin's own hook: the hook below applies every window of a budget.
    global: false,
    store: rateLimitStore({ redis: options.redis, keyPrefix: `${options.redisKeyPrefix}rateLimit:`, logger: options.logger, onFallback: () => countedLocally?.inc() }),
  });

  const budgetOf = (request: FastifyRequest): RateBudget => budgets.budgetOf(request.method, request.routeOptions.url ?? '');
  const limiters = new Map<string, Limiter>();
  const limiterFor = (window: RateWindow): Limiter => {
    const id = `${window.max}/${window.windowMs}`;
    let limiter = limiters.get(id);
    if (!limiter) {
      limiter = app.createRateLimit({
        max: window.max,
        timeWindow: window.windowMs,
        // Tenant + budget + window: never the address (decision 0024).
        keyGenerator: (request) => `${request.principal.tenant}|${budgetOf(request).name}|${window.windowMs}`,
      });
      limiters.set(id, limiter);
    }
    return limiter;
  };

  const registered = new Set<string>();
  app.addHook('onRoute', (route) => {
    if (route.config?.public === true) return;
    for (const method of [route.method].flat()) registered.add(budgets.budgetOf(method, route.url).name);
  });

  app.addHook('onRequest', async (request, reply) => {
    // Unknown routes and public ones (probes, metrics, JWKS, the broker CA) carry no tenant.
    if (request.is404 || request.routeOptions.config.public === true) return;
    const budget = budgetOf(request);
    let tightest: Counted | undefined;
    for (const [index, window] of budget.windows.entries()) {
      const counted = await limiterFor(window)(request);
      if (counted.isAllowed) continue;
      if (!counted.isExceeded) {
        if (!tightest || counted.remaining < tightest.remaining) tightest = counted;
        continue;
      }
      // Refused by this window: the longer ones are only read (a refused call uses none of
      // their allowance), and if one of them is used up too, the caller must wait for it.
      let refusing = window;
      let retryAfterSeconds = seconds(counted.ttlInSeconds);
      for (const longer of budget.windows.slice(index + 1)) {
        const peek = await limiterFor(longer)(request, { increment: false });
        if (!peek.isAllowed && peek.remaining === 0 && peek.ttlInSeconds > retryAfterSeconds) {
          refusing = longer;
          retryAfterSeconds = seconds(peek.ttlInSeconds);
        }
      }
      const limit = describeWindow(refusing);
      reply.header('x-ratelimit-limit', refusing.max).header('x-ratelimit-remaining', 0)
        .header('x-ratelimit-reset', retryAfterSeconds).header('retry-after', retryAfterSeconds);
      request.log.info({ tenant: request.principal.tenant, route: budget.name, limit, retryAfterSeconds }, 'rate limited');
      refusals.refused({
        tenant: request.principal.tenant, subject: request.principal.subject, budget: budget.name, limit,
        routePattern: request.routeOptions.url ?? '', method: request.method, sourceAddress: request.ip, requestId: request.id,
      });
      throw new DomainError('rateLimit.exceeded', `Rate limit exceeded: retry after ${retryAfterSeconds} s (limit: ${limit} for ${budget.name}, per tenant).`);
    }
    // Informational, as @fastify/rate-limit sends them: the window closest to refusing.
    if (tightest) {
      reply.header('x-ratelimit-limit', tightest.max).header('x-ratelimit-remaining', tightest.remaining)
        .header('x-ratelimit-reset', tightest.ttlInSeconds);
    }
  });

  return {
    checkRoutes() {
      const unknown = budgets.unknownRoutes(registered);
      if (unknown.length > 0) {
        throw new RateLimitPolicyError(`TRUSTGATE_RATE_LIMITS names routes the API does not have: ${unknown.join(', ')}. Routes are written as in docs/limits.md, e.g. "POST /caCertificates/:id/verify"; the API has ${[...registered].sort().join(', ')}.`);
      }
    },
  };
};
