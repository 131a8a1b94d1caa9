import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { apiOperation, errors, type ResourceRoutesOptions } from '../route-kit.ts';
import { AuditEventPageResource, AuditEventQuery, toAuditEventPageResource } from './schemas.ts';

const auditEvents = apiOperation('auditEvents');

// Issue 16 part 1 (docs/audit.md): the tenant's audit trail, read-only (no route changes or
// deletes an event). Admin scope: the trail names who did what, which a read token may not see.
export const auditEventRoutes: FastifyPluginAsyncTypebox<ResourceRoutesOptions> = async (app, { registry }) => {
  app.get('/auditEvents', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...auditEvents,
      summary: 'List the tenant\'s audit events, newest first, a page at a time',
      description: 'Every state change and trust decision (docs/audit.md). Filter by time (since inclusive, until exclusive) and action; '
        + 'page with nextCursor. Another tenant\'s events are never listed; a cursor of another tenant is a 400 auditEvent.cursorInvalid.',
      querystring: AuditEventQuery,
      response: { 200: AuditEventPageResource, ...errors(400, 401, 403) },
    },
  }, async (request) => toAuditEventPageResource(await registry.listAuditEvents({ tenant: request.principal.tenant, ...request.query })));
};
