import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { grants, SCOPES, type Principal, type Scope, type TokenVerifier } from '../auth/index.ts';
import { DomainError } from '../shared/index.ts';

// The principal is a request decoration and each route says in its `config` who may call it, as
// fastify's own auth plugins do (@fastify/jwt's `request.user`, a route's `config` read from
// `request.routeOptions.config`).
declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The caller, from its verified token. Set at onRequest before any route that declares a
     * `scope` runs, so its handler can rely on it; null on `public` routes, which must not read it.
     */
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** The scope the caller's token must grant (mcmqtt.admin grants mcmqtt.read too). */
    scope?: Scope;
    /** Reachable without a token, on purpose. */
    public?: true;
  }
}

// RFC 7235 §2.1: the scheme is case-insensitive.
const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]+)$/i;

// Fail closed at startup: a route that forgets to say who may call it is refused when it is
// registered, so it is never reachable without a token by accident.
const checkDeclaresAccess = (route: RouteOptions): void => {
  const { scope, public: isPublic } = route.config ?? {};
  const where = `${String(route.method)} ${route.url}`;
  if (isPublic === true && scope !== undefined) throw new Error(`${where} declares both config.public and config.scope; it is one or the other.`);
  if (isPublic === true) return;
  if (scope === undefined || !SCOPES.includes(scope)) {
    throw new Error(`${where} declares no access: give it config.scope (one of ${SCOPES.join(', ')}) or, if anyone may call it, config.public: true.`);
  }
};

const verifyBearer = async (verifier: TokenVerifier, request: FastifyRequest, needed: Scope): Promise<Principal> => {
  const header = request.headers.authorization;
  if (!header) {
    throw new DomainError('auth.tokenMissing', 'Send "Authorization: Bearer <token>". For the local dev issuer: TOKEN=$(npx trustgate token --tenant <tenant>).');
  }
  const token = BEARER.exec(header)?.[1];
  if (!token) {
    throw new DomainError('auth.tokenInvalid', 'The Authorization header must be "Bearer <token>" with a JWT.');
  }
  const principal = await verifier.verify(token);
  if (!grants(principal.scopes, needed)) {
    throw new DomainError('auth.scopeMissing', `This call needs the scope ${needed}${needed === 'mcmqtt.read' ? ' or mcmqtt.admin' : ''}; the token has ${principal.scopes.length > 0 ? principal.scopes.join(', ') : 'none'}.`);
  }
  return principal;
};

// Installs the authentication on the root instance, before any route is registered, so every
// route (and every plugin's route) is checked. The token is checked at onRequest, before the body
// is read: a caller without a valid token never gets its body parsed or validated.
export const authenticate = (app: FastifyInstance, verifier: TokenVerifier): void => {
  app.decorateRequest('principal', null, []);
  app.addHook('onRoute', checkDeclaresAccess);
  app.addHook('onRequest', async (request, reply) => {
    // An unknown route answers 404 the same with and without a token: it leaks nothing about auth.
    if (request.is404) return;
    const { config } = request.routeOptions;
    if (config.public === true) return;
    // A route registered before this hook escaped the startup check: it gets the strictest scope.
    request.principal = await verifyBearer(verifier, request, config.scope ?? 'mcmqtt.admin');
    // From here on every line of this request (what it changed, its completion) names who made it.
    // Fastify gave the request a child logger of its own (with its reqId): the caller is added to
    // its bindings rather than to a child of that child (the same lines, without a third logger
    // object and a longer prototype chain per request).
    const own = request.log as FastifyBaseLogger & { setBindings?: (bindings: Record<string, unknown>) => void };
    if (own !== app.log && typeof own.setBindings === 'function') {
      own.setBindings({ tenant: request.principal.tenant, subject: request.principal.subject });
    } else {
      request.log = request.log.child({ tenant: request.principal.tenant, subject: request.principal.subject });
    }
    reply.log = request.log;
  });
};
