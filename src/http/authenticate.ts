import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { grants, type Principal, type Scope, type TokenVerifier } from '../auth/index.ts';
import { DomainError } from '../shared/index.ts';

const principals = new WeakMap<FastifyRequest, Principal>();

// The authenticated caller of a route that used `authenticate`. A route without it has none,
// and asking is a programming error.
export const principalOf = (request: FastifyRequest): Principal => {
  const principal = principals.get(request);
  if (!principal) throw new Error('route is not authenticated');
  return principal;
};

// RFC 7235 §2.1: the scheme is case-insensitive.
const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]+)$/i;

// Runs at onRequest, before the body is read: a caller without a valid token never gets its body
// parsed or validated.
export const authenticate = (verifier: TokenVerifier, needed: Scope): onRequestAsyncHookHandler =>
  async (request: FastifyRequest, _reply: FastifyReply) => {
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
    principals.set(request, principal);
  };
