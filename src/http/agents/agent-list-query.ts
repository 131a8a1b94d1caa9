import { Type } from 'typebox';
import type { AgentListFilter } from '../../registry/index.ts';
import { DomainError, type CaCertificateId } from '../../shared/index.ts';

export const AgentListQuery = Type.Object({
  expiringBefore: Type.Optional(Type.String({
    maxLength: 64,
    description: 'Only agents whose current certificate\'s notAfter is before this ISO 8601 time with a zone (e.g. 2027-01-31T00:00:00Z). '
      + 'Agents whose record does not know its validity yet (onboarded before trustgate kept it, until their next connection) are left out.',
  })),
  caCertificateId: Type.Optional(Type.String({
    maxLength: 64,
    description: 'Only agents whose current certificate this CA issued (during a CA rollover: who still uses the old CA). '
      + 'An id that is not one of your CAs (another tenant\'s, deleted, never issued) matches no agent: an empty list.',
  })),
});

// A date and time with seconds optional, a fraction optional, and a zone required: a time without a
// zone would be read in the server's zone, which the caller cannot see.
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

const invalid = (value: string): DomainError => new DomainError('agent.expiringBeforeInvalid',
  `expiringBefore ${JSON.stringify(value.slice(0, 64))} is not an ISO 8601 date and time with a zone, e.g. 2027-01-31T00:00:00Z.`);

/** The instant `value` names, or agent.expiringBeforeInvalid (also for a day or hour that does not exist, such as 02-30 or 24:00). */
export const parseExpiringBefore = (value: string): Date => {
  const match = ISO_INSTANT.exec(value);
  if (!match) throw invalid(value);
  const [, year, month, day, hour, minute, second] = match.map((part) => Number(part ?? 0));
  const wall = new Date(Date.UTC(year!, month! - 1, day!, hour!, minute!, second));
  // Date.UTC rolls 02-30 over to March: the fields must come back as written.
  if (wall.getUTCFullYear() !== year || wall.getUTCMonth() !== month! - 1 || wall.getUTCDate() !== day
    || wall.getUTCHours() !== hour || wall.getUTCMinutes() !== minute || wall.getUTCSeconds() !== second) throw invalid(value);
  const instant = new Date(value);
  if (Number.isNaN(instant.getTime())) throw invalid(value);
  return instant;
};

export const agentListFilterOf = (query: { expiringBefore?: string; caCertificateId?: string }): AgentListFilter => ({
  ...(query.expiringBefore !== undefined ? { expiringBefore: parseExpiringBefore(query.expiringBefore) } : {}),
  ...(query.caCertificateId !== undefined ? { caCertificateId: query.caCertificateId as CaCertificateId } : {}),
});
