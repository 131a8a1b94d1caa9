import { DomainError, type TenantId } from '../shared/index.ts';
import { auditActions, type AuditAction } from './audit-trail.ts';
import type { AuditEventPosition, AuditEventStore, StoredAuditEvent } from './audit-event-store.ts';

// GET /auditEvents and `trustgate audit list`: the tenant's trail, newest first, a page at a time.
// The cursor is opaque to callers: base64url of "v1|<tenant>|<time>|<id>", the last event of the
// page. It carries the tenant so that a cursor of another tenant (or a hand-made one) is refused
// with the same 400 as a damaged one, never read as a position in this tenant's trail.

export const DEFAULT_AUDIT_PAGE_SIZE = 100;
export const MAX_AUDIT_PAGE_SIZE = 1000;

export interface ListAuditEventsInput {
  readonly tenant: TenantId;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly action?: string | undefined;
  readonly limit?: string | number | undefined;
  readonly cursor?: string | undefined;
}

export interface AuditEventPage {
  readonly auditEvents: StoredAuditEvent[];
  /** Pass it as `cursor` for the next (older) page; undefined on the last page. */
  readonly nextCursor: string | undefined;
}

// ISO 8601 with a zone (or a bare date, read as UTC midnight): "03:12" alone would be local time somewhere.
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2})))?$/;

// Date() rolls 02-30 over to 03-02 and reads 24:00 as the next day: each field must exist as written.
const isRealInstant = (text: string): boolean => {
  const match = INSTANT.exec(text);
  if (!match) return false;
  const [year, month, day, hour = 0, minute = 0, second = 0, zoneHours = 0, zoneMinutes = 0] = match.slice(1).map((part) => Number(part ?? 0));
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  return month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59 && zoneHours <= 23 && zoneMinutes <= 59;
};
const EVENT_ID = /^[0-9a-f]{24}$/;
const CURSOR = /^[A-Za-z0-9_-]{1,400}$/;

const instantOf = (name: 'since' | 'until', text: string | undefined): Date | undefined => {
  if (text === undefined) return undefined;
  const time = isRealInstant(text) ? new Date(text) : undefined;
  if (time === undefined || Number.isNaN(time.getTime())) {
    throw new DomainError(`auditEvent.${name}Invalid`, `${name} "${text.slice(0, 64)}" is not an ISO 8601 time with a zone, e.g. 2026-12-03T03:12:00Z (or a date, 2026-12-03).`);
  }
  return time;
};

const actionOf = (text: string | undefined): AuditAction | undefined => {
  if (text === undefined) return undefined;
  if (!(auditActions as readonly string[]).includes(text)) {
    throw new DomainError('auditEvent.actionInvalid', `"${text.slice(0, 64)}" is not an audit action. Use one of: ${auditActions.join(', ')}.`);
  }
  return text as AuditAction;
};

const limitOf = (value: string | number | undefined): number => {
  if (value === undefined) return DEFAULT_AUDIT_PAGE_SIZE;
  const limit = typeof value === 'number' ? value : /^\d{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE_SIZE) {
    throw new DomainError('auditEvent.limitInvalid', `limit must be a whole number from 1 to ${MAX_AUDIT_PAGE_SIZE} (default ${DEFAULT_AUDIT_PAGE_SIZE}).`);
  }
  return limit;
};

const cursorInvalid = (): DomainError =>
  new DomainError('auditEvent.cursorInvalid', 'The cursor is not one this API gave your tenant. Pass nextCursor of the previous page as is, or leave it out for the first page.');

export const encodeAuditCursor = (tenant: TenantId, { time, id }: AuditEventPosition): string =>
  Buffer.from(`v1|${tenant}|${time.toISOString()}|${id}`, 'utf8').toString('base64url');

export const decodeAuditCursor = (tenant: TenantId, cursor: string | undefined): AuditEventPosition | undefined => {
  if (cursor === undefined) return undefined;
  if (!CURSOR.test(cursor)) throw cursorInvalid();
  const [version, cursorTenant, timeText, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const time = timeText === undefined ? undefined : new Date(timeText);
  if (version !== 'v1' || cursorTenant !== tenant || rest.length > 0 || id === undefined || !EVENT_ID.test(id)
    || time === undefined || Number.isNaN(time.getTime()) || time.toISOString() !== timeText) {
    throw cursorInvalid();
  }
  return { time, id };
};

export const listAuditEvents = async (auditEvents: AuditEventStore, input: ListAuditEventsInput): Promise<AuditEventPage> => {
  const since = instantOf('since', input.since);
  const until = instantOf('until', input.until);
  if (since && until && until <= since) {
    throw new DomainError('auditEvent.untilInvalid', `until (${until.toISOString()}) must be later than since (${since.toISOString()}).`);
  }
  const action = actionOf(input.action);
  const limit = limitOf(input.limit);
  const after = decodeAuditCursor(input.tenant, input.cursor);
  // One more than asked: whether a next page exists, without a count.
  const found = await auditEvents.list({ tenant: input.tenant, since, until, action, after, limit: limit + 1 });
  const page = found.slice(0, limit);
  const last = page.at(-1);
  return { auditEvents: page, nextCursor: found.length > limit && last ? encodeAuditCursor(input.tenant, last) : undefined };
};
