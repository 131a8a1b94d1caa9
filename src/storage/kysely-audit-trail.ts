import type { Kysely } from 'kysely';
import type { AuditEntry, AuditEventQuery, AuditEventStore, AuditRecorder, StoredAuditEvent } from '../registry/index.ts';
import type { Database } from './tables.ts';
import { isPostgres } from './is-postgres.ts';
import { storedAuditEventOf, writeAuditEvent } from './audit-event-rows.ts';

/** The subset of a pino logger the trail writes to (a child with `component: 'audit'`). */
export interface AuditLogSink {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

// The audit trail in the database (migration 0011) and as log lines. Every entry becomes one log
// line with `audit: true`; its fields are ids, codes and addresses only (entries never hold keys,
// tokens or certificates). `record` never throws: an audit outage is logged, and the API call or
// connection that caused the entry goes on (the entries that must not be lost are written by the
// stores in the transaction of their change instead).
export class KyselyAuditTrail implements AuditRecorder, AuditEventStore {
  readonly #db: Kysely<Database>;
  readonly #log: AuditLogSink;

  constructor(db: Kysely<Database>, log: AuditLogSink) {
    this.#db = db;
    this.#log = log;
  }

  async record(entry: AuditEntry): Promise<void> {
    this.logWritten(entry);
    try {
      await writeAuditEvent(this.#db, entry);
    } catch (error) {
      try {
        this.#log.error({ err: error, action: entry.action, target: entry.target }, 'could not store an audit event (its log line above stands)');
      } catch {
        // A failing logger must not turn into a refused call either.
      }
    }
  }

  logWritten(entry: AuditEntry): void {
    const { time, tenant, actor, action, target, outcome, reason, sourceAddress, requestId, count } = entry;
    this.#log.info({
      audit: true, time: time.toISOString(), tenant, actor, action, target, outcome, reason, sourceAddress, requestId, count: count ?? 1,
    }, `audit: ${action}`);
  }

  async list({ tenant, since, until, action, after, limit }: AuditEventQuery): Promise<StoredAuditEvent[]> {
    let query = this.#db.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenant);
    // ISO 8601 UTC text of one width compares as the instants do (decision 0003).
    if (since !== undefined) query = query.where('time', '>=', since.toISOString());
    if (until !== undefined) query = query.where('time', '<', until.toISOString());
    if (action !== undefined) query = query.where('action', '=', action);
    if (after !== undefined) {
      const time = after.time.toISOString();
      // Keyset paging on (time, id): stable when rows share a timestamp and while new ones arrive.
      query = query.where((eb) => eb.or([eb('time', '<', time), eb.and([eb('time', '=', time), eb('id', '<', after.id)])]));
    }
    const rows = await query.orderBy('time', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(storedAuditEventOf);
  }

  async pruneBatch(before: Date, batchSize: number): Promise<number> {
    // Oldest first, a bounded batch per statement: short locks. Two nodes pruning at once: on
    // PostgreSQL each skips the rows the other has locked (no deadlock, no waiting); SQLite has one writer.
    const oldest = this.#db.selectFrom('audit_events').select('id')
      .where('time', '<', before.toISOString()).orderBy('time').limit(batchSize)
      .$if(isPostgres(this.#db), (query) => query.forUpdate().skipLocked());
    const result = await this.#db.deleteFrom('audit_events').where('id', 'in', oldest).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
