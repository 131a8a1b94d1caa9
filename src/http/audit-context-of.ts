import type { FastifyRequest } from 'fastify';
import type { AuditContext } from '../registry/index.ts';
import type {} from './authenticate.ts';

/** Who calls and from where, for the audit entries of the use case a route calls: the token's
 *  subject ('' when the token has none), the peer address (Fastify's `request.ip`) and the request
 *  id (the logref of an error body). Never the token itself. */
export const auditContextOf = (request: FastifyRequest): AuditContext => ({
  actor: { type: 'token', id: request.principal.subject ?? '' },
  sourceAddress: request.ip,
  requestId: request.id,
});
