import type { FastifyInstance, RouteOptions } from 'fastify';
import { createRequire } from 'node:module';
import helmet from '@fastify/helmet';

const require = createRequire(import.meta.url);
// The web console's pages set their own Content-Security-Policy and headers (docs/console.md).
import { CONSOLE_PATH } from './console/console-routes.ts';


/**
 * For answers Fastify gives before routing (a malformed URL): no hook runs for them, so they carry
 * these by hand; the same words as helmet's for the API.
 */
export const REFUSAL_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export interface SecurityHeadersOptions {
  /** Swagger UI's prefix: it keeps the CSP @fastify/swagger-ui computes for its inline script and style. */
  readonly docsPath: string;
}

const isUnder = (url: string, prefix: string): boolean => url === prefix || url.startsWith(`${prefix}/`);

// The API answers JSON and files, never a page: nothing in it may run, be framed or be sniffed
// into a script. No upgrade-insecure-requests: trustgate serves plain HTTP (TLS ends at a proxy if
// at all), and a browser told to upgrade localhost would fail.
const API_CSP = {
  useDefaults: false,
  directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
};

const API_HELMET = {
  contentSecurityPolicy: API_CSP,
  strictTransportSecurity: false,
  referrerPolicy: { policy: 'no-referrer' as const },
  // Nothing of the API is ever framed, not even by this origin (the console's own is DENY too).
  frameguard: { action: 'deny' as const },
};

/** helmet itself, the very copy @fastify/helmet uses (its dependency, not ours). */
const helmetOfFastifyHelmet = (): typeof import('helmet').default =>
  createRequire(require.resolve('@fastify/helmet'))('helmet');

/**
 * @fastify/helmet on every route except the console's. HSTS is off: the server speaks plain HTTP,
 * and a Strict-Transport-Security header is ignored over HTTP anyway (RFC 6797 §8.1); a TLS proxy
 * in front sets it. Referrer-Policy no-referrer and nosniff are helmet's defaults, X-Powered-By is
 * never sent (Fastify sends none; helmet removes one). Responses to authenticated calls carry
 * `Cache-Control: no-store`: each holds a tenant's data and some a secret (a registration code, an
 * agent certificate's private key), none may stay in a browser or proxy cache.
 */
export const securityHeaders = async (app: FastifyInstance, { docsPath }: SecurityHeadersOptions): Promise<void> => {
  // Added before helmet's own onRoute hook, which reads a route's `helmet` option; so is for routes
  // registered after this plugin only. A route that says how it wants helmet keeps its choice.
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.helmet !== undefined) return;
    if (isUnder(route.url, CONSOLE_PATH)) route.helmet = false;
    else if (isUnder(route.url, docsPath)) route.helmet = { contentSecurityPolicy: false };
  });
  // `global: false`: the plugin applies only routes' own `helmet` settings (the console's, Swagger
  // UI's); every other route gets the API's headers from the hook below, the same headers from a
  // middleware built once (the plugin's global path builds helmet's whole middleware, parsing the
  // CSP, on every request: about a twentieth of a GET's CPU).
  await app.register(helmet, { global: false, ...API_HELMET });
  const apiHeaders = helmetOfFastifyHelmet()(API_HELMET);
  app.addHook('onRequest', (request, reply, done) => {
    if ((request.routeOptions.config as { helmet?: unknown }).helmet !== undefined) {
      done();
      return;
    }
    apiHeaders(request.raw, reply.raw, (error?: unknown) => {
      if (error) throw error;
    });
    done();
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404 && request.routeOptions.config.public !== true) reply.header('cache-control', 'no-store');
  });
};
