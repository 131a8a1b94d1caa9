import { Type, type Static } from 'typebox';
import { auditActions, DEFAULT_AUDIT_PAGE_SIZE, MAX_AUDIT_PAGE_SIZE, type AuditEventPage, type StoredAuditEvent } from '../../registry/index.ts';

// Strings, checked by the use case: a bad value gets its own catalogued code (auditEvent.*Invalid)
// rather than the schema's generic request.invalid. The lengths only bound what is read.
export const AuditEventQuery = Type.Object({
  since: Type.Optional(Type.String({ maxLength: 64, description: 'Only events at or after this ISO 8601 time with a zone (2026-12-03T03:00:00Z), or a date (UTC midnight)' })),
  until: Type.Optional(Type.String({ maxLength: 64, description: 'Only events before this time (same format); later than since' })),
  action: Type.Optional(Type.String({ maxLength: 64, description: `Only this action: ${auditActions.join(', ')}` })),
  limit: Type.Optional(Type.String({ maxLength: 16, description: `Events per page, 1 to ${MAX_AUDIT_PAGE_SIZE} (default ${DEFAULT_AUDIT_PAGE_SIZE})` })),
  cursor: Type.Optional(Type.String({ maxLength: 512, description: 'nextCursor of the previous page, as is; leave out for the first (newest) page' })),
}, { additionalProperties: false });

const nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

export const AuditEventResource = Type.Object({
  id: Type.String(),
  time: Type.String({ description: 'ISO 8601 UTC, milliseconds' }),
  tenant: Type.String(),
  actor: Type.Object({
    type: Type.Union([Type.Literal('token'), Type.Literal('agent'), Type.Literal('system')]),
    id: Type.String({ description: 'The token\'s sub (REST), the agent\'s client id (MQTT), or trustgate' }),
  }),
  action: Type.String({ description: auditActions.join(', ') }),
  target: Type.String({ description: '<kind>:<id>, e.g. caCertificate:66a1…, agent:acme_pump-7, certificate:<caCertificateId>/<serial>' }),
  outcome: Type.Union([Type.Literal('success'), Type.Literal('failure')]),
  reason: nullable(Type.String({ description: 'The error code or decision reason' })),
  sourceAddress: nullable(Type.String()),
  requestId: nullable(Type.String({ description: 'The REST request id (X-Request-Id, an error body\'s logref)' })),
  count: Type.Integer({ description: 'Occurrences this event stands for (aggregated MQTT refusals); 1 otherwise' }),
});

export const AuditEventPageResource = Type.Object({
  auditEvents: Type.Array(AuditEventResource, { description: 'Newest first' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next (older) page; null on the last page' }),
});
export type AuditEventPageResource = Static<typeof AuditEventPageResource>;

const toAuditEventResource = (event: StoredAuditEvent): Static<typeof AuditEventResource> => ({
  id: event.id,
  time: event.time.toISOString(),
  // Listing is per tenant: every listed event has one.
  tenant: event.tenant ?? '',
  actor: { type: event.actor.type, id: event.actor.id },
  action: event.action,
  target: event.target,
  outcome: event.outcome,
  reason: event.reason ?? null,
  sourceAddress: event.sourceAddress ?? null,
  requestId: event.requestId ?? null,
  count: event.count,
});

export const toAuditEventPageResource = ({ auditEvents, nextCursor }: AuditEventPage): AuditEventPageResource => ({
  auditEvents: auditEvents.map(toAuditEventResource),
  nextCursor: nextCursor ?? null,
});
