import type { TenantId } from '../shared/index.ts';
import type { AuditAction, AuditEntry } from './audit-trail.ts';

// Reading the trail back (GET /auditEvents, `trustgate audit list`) and keeping it within its
// retention. Writing is the AuditTrail's `record` or a store's audited change.

/** Where a page ends: the last event shown, in the (time desc, id desc) order of the listing. */
export interface AuditEventPosition {
  readonly time: Date;
  readonly id: string;
}

export interface AuditEventQuery {
  readonly tenant: TenantId;
  /** Inclusive. */
  readonly since?: Date | undefined;
  /** Exclusive. */
  readonly until?: Date | undefined;
  readonly action?: AuditAction | undefined;
  /** Only events after this position (older, or as old with a smaller id). */
  readonly after?: AuditEventPosition | undefined;
  readonly limit: number;
}

export interface StoredAuditEvent extends AuditEntry {
  readonly id: string;
  readonly count: number;
}

export interface AuditEventStore {
  /** The tenant's events matching the query, newest first (ties by id, descending), at most `limit`. */
  list(query: AuditEventQuery): Promise<StoredAuditEvent[]>;
  /** Deletes at most `batchSize` events older than `before` (any tenant); answers how many it deleted.
   *  The only way rows leave the table; safe to run on several nodes at once. */
  pruneBatch(before: Date, batchSize: number): Promise<number>;
}
