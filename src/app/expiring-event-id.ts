import { createHash } from 'node:crypto';

/** The id of a certificate.expiring event for `object` on the UTC day of `at`: the same on every node,
 *  so the outbox's unique (webhook_id, event_id) keeps one per object and day (decision 0035). */
export const expiringEventId = (object: string, at: Date): string =>
  createHash('sha256').update(`certificate.expiring/${object}/${at.toISOString().slice(0, 10)}`).digest('hex').slice(0, 24);
