import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RouteOptions, type RouteShorthandOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { JWK } from 'jose';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { SignInLink, TokenVerifier } from '../auth/index.ts';
import type { Redis } from 'ioredis';
import { watchAgents, type AuditTrail, type Commanding, type MqttBans, type Registry } from '../registry/index.ts';
import { banRoutes } from './bans/ban-routes.ts';
import { caCertificateRoutes } from './ca-certificates/ca-certificate-routes.ts';
import { agentRoutes } from './agents/agent-routes.ts';
import { agentEventsRoute } from './agents/agent-events-route.ts';
import { agentCertificateRoutes } from './agent-certificates/agent-certificate-routes.ts';
import { auditEventRoutes } from './audit-events/audit-event-routes.ts';
import { COMMANDING_BASE_PATH, deliveryJobRoutes } from './delivery-jobs/delivery-job-routes.ts';
import { brokerCaRoutes } from './broker-ca/broker-ca-routes.ts';
import { brokerInfoRoutes, type BrokerInfo } from './broker-info/broker-info-routes.ts';
import { CONSOLE_PATH, consoleRoutes, markConsolePublic } from './console/console-routes.ts';
import { authenticate } from './authenticate.ts';
import { answerFrameworkError, handleErrors } from './handle-errors.ts';
import { rejectPrivateKeys } from './reject-private-keys.ts';
import { metricsRoute } from './metrics-route.ts';
import { countRequests } from './request-metrics.ts';
import { ProbesAtDebug, requestIdOf } from './request-logging.ts';
import { securityHeaders } from './security-headers.ts';
import type { RateWindow, RestRateLimits } from './rate-limit-budgets.ts';
import { limitRestRates } from './rest-rate-limits.ts';
import { limitUnauthenticated, UNAUTHENTICATED_DEFAULT } from './unauthenticated-limit.ts';

export const API_BASE_PATH = '/api/mindconnectmqtt/v3';
export const BODY_LIMIT_BYTES = 64 * 1024;
/** Swagger UI, next to the OpenAPI document (`${API_BASE_PATH}/openapi.json`). */
export const API_DOCS_PATH = `${API_BASE_PATH}/docs`;
/** sha256 of `.logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}`, the <style>
 *  of the logo in @fastify/swagger-ui 6.1's swagger-ui-standalone-preset.js. */
const SWAGGER_UI_LOGO_STYLE_HASH = 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w=';

// Swagger UI's pages and assets are public like the OpenAPI document they show (the UI sends the
// token a person types in, it has none of its own). Its plugin cannot give its routes a config, so
// they are marked public here, by path and only for GET/HEAD, before authenticate() checks that
// every route declares its access.
const markSwaggerUiPublic = (route: RouteOptions): void => {
  const methods = [route.method].flat();
  const isUnderDocs = route.url === API_DOCS_PATH || route.url.startsWith(`${API_DOCS_PATH}/`);
  if (isUnderDocs && methods.every((method) => method === 'GET' || method === 'HEAD') && route.config?.scope === undefined) {
    route.config = { ...route.config, public: true };
  }
};

export interface HttpServerOptions {
  readonly registry: Registry;
  readonly tokens: TokenVerifier;
  readonly logger: Logger;
  /** Public keys of the local dev issuer, published for other services; undefined with an external IdP. */
  readonly devJwks: { keys: JWK[] } | undefined;
  /** The agent access token keys to publish beside them (issue 19 part 1): the signing one, the next and the retiring ones. */
  readonly agentJwks?: (() => Promise<JWK[]>) | undefined;
  /** Prometheus metrics, served at /metrics. */
  readonly metrics: MetricsRegistry;
  /** TRUSTGATE_METRICS_TOKEN: when set, /metrics answers only this Bearer token. */
  readonly metricsToken?: string;
  /** The generated broker root CA, served at /broker-ca.pem; undefined with the operator's certificate. */
  readonly brokerRootCaPem: string | undefined;
  /** Who issued the operator's own server certificate, named in /broker-ca.pem's 404. */
  readonly brokerCertificateIssuer?: string;
  /** The MQTT broker's port and host names, served at /broker.json. */
  readonly broker: Omit<BrokerInfo, 'hasGeneratedRootCa'>;
  /** What /readyz reports: whether this node can take new work (database, cluster bus, not draining). */
  readonly readiness?: () => Promise<ReadinessReport>;
  readonly agentEvents?: Partial<AgentEventSettings>;
  /** TRUSTGATE_RATE_LIMITS' REST part; undefined (`off`) = no REST rate limits. */
  readonly rateLimits?: {
    readonly rest: RestRateLimits;
    /** Set in a cluster: the counters live there, one budget for every node. */
    readonly redis: Redis | undefined;
    /** TRUSTGATE_REDIS_PREFIX. */
    readonly redisPrefix: string;
    /** Failed authentications per address before its unknown tokens wait (unauthenticated-limit.ts); default 100 per 60 s. */
    readonly unauthenticatedPerAddress?: RateWindow;
  };
  /** Where 429s are recorded (aggregated: rate-limit-refusals.ts); undefined = log and metrics only. */
  readonly auditTrail?: AuditTrail;
  /** The console's one-time sign-in link (local dev issuer only; docs/console.md). */
  readonly consoleSignInLink?: SignInLink;
  /** The broker's connect bans (GET/DELETE /bans); absent, the routes are not registered. */
  readonly bans?: MqttBans;
  /** The Commanding API's use cases (under /api/commanding/v3); absent, the routes are not registered. */
  readonly commanding?: Commanding;
}

/** GET /agents/events (docs/decisions/0027-agent-events-by-polling.md); tests shorten or lower them. */
export interface AgentEventSettings {
  /** How often a watched tenant's agents are read again. */
  readonly pollMs: number;
  readonly pingMs: number;
  readonly maxStreamsPerTenant: number;
  readonly maxStreamsPerNode: number;
  /** How long a client may not read at all before it is cut off. */
  readonly stallMs: number;
}

export const AGENT_EVENT_DEFAULTS: AgentEventSettings = {
  pollMs: 1000, pingMs: 15_000, maxStreamsPerTenant: 10, maxStreamsPerNode: 500, stallMs: 30_000,
};

export interface ReadinessReport {
  readonly isReady: boolean;
  /** One entry per dependency: "ok" or why not. */
  readonly checks: Readonly<Record<string, string>>;
}

// Builds the Fastify app; listening is the caller's (app's) job.
export const createHttpServer = async ({
  registry, tokens, logger, devJwks, agentJwks, metrics, metricsToken, brokerRootCaPem, brokerCertificateIssuer, broker, readiness, rateLimits, auditTrail, agentEvents, bans, consoleSignInLink, commanding,
}: HttpServerOptions): Promise<FastifyInstance> => {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // An acceptable X-Request-Id from a proxy is kept, anything else replaced (request-logging.ts).
    genReqId: requestIdOf,
    logController: new ProbesAtDebug(),
    // Wrong JSON types must be refused, not coerced ("name": 5 is an error, not "5"); unknown
    // fields are refused where a schema says additionalProperties: false, never silently dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // Long ids are just unknown ids (404), not Fastify's 414; malformed URLs get our error body.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048 },
    frameworkErrors: answerFrameworkError,
  });
  // JSON only: without this Fastify would also parse text/plain bodies.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES }, app.getDefaultJsonParser('error', 'error'));
  handleErrors(app);
  countRequests(app, metrics);
  // Before any route: its onRoute hook exempts the console's and adapts Swagger UI's.
  await securityHeaders(app, { docsPath: API_DOCS_PATH });
  app.addHook('onRoute', markSwaggerUiPublic);
  app.addHook('onRoute', markConsolePublic);
  // The id, echoed: what a caller quotes to find its request in the logs (also the error's logref).
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Before the token check: an address that keeps failing it is refused before verification.
  if (rateLimits) limitUnauthenticated(app, { window: rateLimits.unauthenticatedPerAddress ?? UNAUTHENTICATED_DEFAULT, metrics });
  // Before any route: from here on every route must say who may call it (config.scope or config.public).
  authenticate(app, tokens);
  // After the token (its tenant is the budget's), before the body is read.
  // A server built without the Commanding API (unit tests) has no such route for its row to name.
  const rest = rateLimits && !commanding
    ? { ...rateLimits.rest, routes: rateLimits.rest.routes.filter((rule) => !rule.route.startsWith(`${COMMANDING_BASE_PATH}/`)) }
    : rateLimits?.rest;
  const limits = rateLimits && rest ? await limitRestRates(app, {
    rest, basePath: API_BASE_PATH, redis: rateLimits.redis, redisKeyPrefix: rateLimits.redisPrefix,
    auditTrail, metrics, namesTenants: metricsToken !== undefined, logger,
  }) : undefined;
  app.addHook('preValidation', rejectPrivateKeys);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'trustgate API',
        description: 'MindConnect MQTT v3 compatible CA certificate registry. Every call needs "Authorization: Bearer <JWT>"; the tenant is the token\'s `ten` claim.',
        version: '3.0.0',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });

  // The plugin's own strict CSP (scripts and styles from 'self' only, no inline script), minus
  // upgrade-insecure-requests, which would send a browser on plain http://localhost to https, plus
  // the one inline <style> Swagger UI renders (in its logo's SVG), allowed by its hash rather than
  // 'unsafe-inline'. test/api/swagger-ui-browser.test.ts fails in Chromium if an upgrade changes it.
  await app.register(swaggerUi, {
    routePrefix: API_DOCS_PATH,
    staticCSP: true,
    transformStaticCSP: (header) => header
      .replace(/\s*upgrade-insecure-requests;?/, '')
      .replace(/style-src ([^;]*);/, (_directive, sources: string) => `style-src ${sources.trim()} '${SWAGGER_UI_LOGO_STYLE_HASH}';`),
    validatorUrl: false,
  });

  await app.register(caCertificateRoutes, { prefix: API_BASE_PATH, registry });
  await app.register(agentRoutes, { prefix: API_BASE_PATH, registry });
  const events = { ...AGENT_EVENT_DEFAULTS, ...agentEvents };
  const watch = watchAgents({
    listAgents: (tenant) => registry.listAgents(tenant),
    intervalMs: events.pollMs,
    maxWatchersPerTenant: events.maxStreamsPerTenant,
    maxWatchers: events.maxStreamsPerNode,
    log: logger,
  });
  await app.register(agentEventsRoute, { prefix: API_BASE_PATH, watch, pingMs: events.pingMs, stallMs: events.stallMs });
  await app.register(agentCertificateRoutes, { prefix: API_BASE_PATH, registry });
  await app.register(auditEventRoutes, { prefix: API_BASE_PATH, registry });
  if (bans) await app.register(banRoutes, { prefix: API_BASE_PATH, bans });
  if (commanding) await app.register(deliveryJobRoutes, { prefix: COMMANDING_BASE_PATH, commanding });
  await app.register(brokerCaRoutes, { rootCaPem: brokerRootCaPem, issuer: brokerCertificateIssuer });
  // The web console (docs/console.md), with its own strict security headers.
  await app.register(consoleRoutes, { prefix: CONSOLE_PATH, signInLink: consoleSignInLink });
  await app.register(brokerInfoRoutes, { broker: { ...broker, hasGeneratedRootCa: brokerRootCaPem !== undefined } });

  // Outside the OpenAPI document and without a token: the document itself and the public keys are
  // public by nature, and load balancers and Prometheus call the probes without one.
  const hiddenAndPublic = (): RouteShorthandOptions => ({ config: { public: true }, schema: { hide: true } });
  app.get(`${API_BASE_PATH}/openapi.json`, hiddenAndPublic(), async () => app.swagger());
  // One JWKS for both issuers: the dev token key (if any) and the agent token keys, told apart by
  // `kid` (and, in the tokens, by issuer, audience and `typ`: token-verifier.ts refuses agent tokens).
  app.get('/.well-known/jwks.json', hiddenAndPublic(), async () => ({ keys: [...(devJwks?.keys ?? []), ...(await agentJwks?.() ?? [])] }));
  // Liveness: the process answers. Readiness: it can serve new agents and requests; a load
  // balancer stops sending new connections to a node that answers 503 (docs/deployment.md).
  app.get('/healthz', hiddenAndPublic(), async () => ({ status: 'ok' }));
  app.get('/readyz', hiddenAndPublic(), async (_request, reply) => {
    const report = readiness ? await readiness() : { isReady: true, checks: {} };
    return reply.code(report.isReady ? 200 : 503).send({ status: report.isReady ? 'ready' : 'not ready', checks: report.checks });
  });
  metricsRoute(app, { metrics, token: metricsToken });
  limits?.checkRoutes();
  return app;
};
