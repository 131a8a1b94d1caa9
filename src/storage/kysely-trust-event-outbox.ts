import { sql, type Kysely, type Selectable } from 'kysely';
import { isPostgres } from './is-postgres.ts';
import type { RegistryEvent, TrustEventOutbox } from '../registry/index.ts';
import { isTenantId } from '../shared/index.ts';
import type { Database, TrustEventOutboxTable } from './tables.ts';

type Row = Selectable<TrustEventOutboxTable>;

// The fields each event type carries besides type and tenant, by outbox column. The `satisfies`
// makes the compiler flag a new event type that is missing here.
const COLUMNS = {
  caCertificateRegistered: { caCertificateId: 'ca_certificate_id' },
  caCertificateVerified: { caCertificateId: 'ca_certificate_id' },
  caCertificateDeleted: { caCertificateId: 'ca_certificate_id' },
  managedCaCreated: { caCertificateId: 'ca_certificate_id' },
  agentCertificateRevoked: { agentCertificateId: 'agent_certificate_id', caCertificateId: 'ca_certificate_id', serialNumber: 'serial_number' },
  caRevocationsChanged: { caCertificateId: 'ca_certificate_id' },
  agentDisabled: { agentId: 'agent_id', clientId: 'client_id' },
  agentDeleted: { agentId: 'agent_id', clientId: 'client_id' },
} as const satisfies Record<RegistryEvent['type'], Readonly<Record<string, keyof Row>>>;

/** The event a row holds; undefined for a row no trigger writes (an unknown type, a field missing). */
export const eventOfOutboxRow = (row: Row): RegistryEvent | undefined => {
  if (!Object.hasOwn(COLUMNS, row.event_type) || !isTenantId(row.tenant_id)) return undefined;
  const type = row.event_type as keyof typeof COLUMNS;
  const event: Record<string, string> = { type, tenant: row.tenant_id };
  for (const [field, column] of Object.entries(COLUMNS[type])) {
    const value = row[column as keyof Row];
    if (typeof value !== 'string' || value === '') return undefined;
    event[field] = value;
  }
  return event as unknown as RegistryEvent;
};

// The key of the advisory lock that makes the nodes' drains take turns (PostgreSQL scopes it to
// the database). Any constant no other lock of this database uses: "tgoutbox" in ASCII.
const DRAIN_LOCK_KEY = 0x74676f7574626f78n;
// A drain holds the lock while it sends at most a batch; another node waits for it this long.
const DRAIN_LOCK_WAIT = '10s';

/**
 * The trust_event_outbox table, filled by triggers (migration 0007). On PostgreSQL a drain runs
 * in one transaction that holds an advisory lock: the nodes' drains take turns, and a node killed
 * mid-drain releases the lock with its connection, its rows untouched. On SQLite (one node, one
 * connection) the rows are read, sent and deleted without a transaction: holding one would hold
 * the only connection while the events are sent.
 */
export class KyselyTrustEventOutbox implements TrustEventOutbox {
  readonly #db: Kysely<Database>;
  readonly #isPostgres: boolean;

  constructor(db: Kysely<Database>) {
    this.#db = db;
    this.#isPostgres = isPostgres(db);
  }

  async drain(send: (event: RegistryEvent) => Promise<void>, limit: number): Promise<{ sent: number; dropped: number }> {
    // The common case, every poll of every node: nothing waits, and no transaction is opened.
    if (!await this.#db.selectFrom('trust_event_outbox').select('id').limit(1).executeTakeFirst()) return { sent: 0, dropped: 0 };
    const { sent, dropped, failure } = this.#isPostgres
      ? await this.#db.transaction().execute(async (trx) => {
        await sql`set local lock_timeout = ${sql.lit(DRAIN_LOCK_WAIT)}`.execute(trx);
        await sql`select pg_advisory_xact_lock(${sql.lit(DRAIN_LOCK_KEY.toString())}::bigint)`.execute(trx);
        return this.#drainWith(trx, send, limit);
      })
      : await this.#drainWith(this.#db, send, limit);
    // After the commit: the rows sent before the failure are deleted.
    if (failure) throw failure.error;
    return { sent, dropped };
  }

  async #drainWith(db: Kysely<Database>, send: (event: RegistryEvent) => Promise<void>, limit: number): Promise<{ sent: number; dropped: number; failure?: { error: unknown } }> {
    const rows = await db.selectFrom('trust_event_outbox').selectAll().orderBy('id').limit(limit).execute();
    const done: (number | string)[] = [];
    let sent = 0;
    let failure: { error: unknown } | undefined;
    for (const row of rows) {
      const event = eventOfOutboxRow(row);
      if (event) {
        try {
          await send(event);
        } catch (error) {
          failure = { error };
          break;
        }
        sent += 1;
      }
      done.push(row.id);
    }
    if (done.length > 0) await db.deleteFrom('trust_event_outbox').where('id', 'in', done).execute();
    return { sent, dropped: done.length - sent, ...(failure ? { failure } : {}) };
  }

  async trim(keep: number): Promise<number> {
    const newestKept = await this.#db.selectFrom('trust_event_outbox').select('id').orderBy('id', 'desc').offset(keep - 1).limit(1).executeTakeFirst();
    if (!newestKept) return 0;
    const result = await this.#db.deleteFrom('trust_event_outbox').where('id', '<', newestKept.id).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
