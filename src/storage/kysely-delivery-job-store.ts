import type { Kysely, Selectable, Transaction } from 'kysely';
import {
  agentBacklogFull, jobStatusOf, MAX_COMMANDS_PER_CLAIM, undeliveredCommandStatuses,
  type AgentCommandUpdate, type AuditEntry, type CommandRecord, type CommandStatus, type CommandToSend, type CommandUpdateOutcome,
  type DeliveryJobPosition, type DeliveryJobRecord, type DeliveryJobStatus, type DeliveryJobStore,
} from '../registry/index.ts';
import type { TenantId } from '../shared/index.ts';
import type { Database, DeliveryCommandsTable, DeliveryJobsTable } from './tables.ts';
import { runTransaction } from './run-transaction.ts';
import { writeAuditEvent } from './audit-event-rows.ts';
import { enqueueWebhookEvent } from './webhook-outbox-rows.ts';

// Delivery jobs and their commands (migration 0012, docs/decisions/0034-command-delivery.md). Every
// status change is a conditional UPDATE (`where status in (…)`): two nodes, a late PUBACK or a
// replayed agent update can never move a command back, and exactly one of two racing writers wins.
// Each change enqueues its `command.updated` webhook event in the same transaction (the outbox).

type Db = Kysely<Database> | Transaction<Database>;
const UNDELIVERED = [...undeliveredCommandStatuses];
// What an agent's report may move on from: anything not terminal. EXECUTING only moves forward.
const FROM_FOR: Record<AgentCommandUpdate['status'], CommandStatus[]> = {
  EXECUTING: ['PENDING', 'SENT', 'DELIVERED'],
  EXECUTED: ['PENDING', 'SENT', 'DELIVERED', 'EXECUTING'],
  FAILED: ['PENDING', 'SENT', 'DELIVERED', 'EXECUTING'],
};

const iso = (date: Date): string => date.toISOString();
const dateOrUndefined = (text: string | null): Date | undefined => (text === null ? undefined : new Date(text));
const parsed = (text: string | null): unknown => (text === null ? undefined : JSON.parse(text));

const jobOf = (row: Selectable<DeliveryJobsTable>): DeliveryJobRecord => ({
  id: row.id, tenant: row.tenant_id as TenantId, name: row.name, clientIds: JSON.parse(row.client_ids) as string[], data: JSON.parse(row.data),
  status: row.status as DeliveryJobStatus, createdBy: row.created_by, createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at),
});

const commandOf = (row: Selectable<DeliveryCommandsTable>): CommandRecord => ({
  id: row.id, jobId: row.job_id, tenant: row.tenant_id as TenantId, clientId: row.client_id, status: row.status as CommandStatus,
  createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at), expiresAt: new Date(row.expires_at),
  sentAt: dateOrUndefined(row.sent_at), deliveredAt: dateOrUndefined(row.delivered_at), response: parsed(row.response),
  agentTimestamp: row.agent_timestamp ?? undefined,
});

/** The webhook event of one command's new status (SPEC: `command.updated`). */
const commandUpdated = (trx: Db, command: { tenant_id: string; job_id: string; id: string; client_id: string }, status: CommandStatus, at: Date) =>
  enqueueWebhookEvent(trx, {
    type: 'command.updated', tenant: command.tenant_id as TenantId, time: at,
    data: { jobId: command.job_id, commandId: command.id, clientId: command.client_id, status },
  });

export class KyselyDeliveryJobStore implements DeliveryJobStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(job: DeliveryJobRecord, commands: readonly CommandRecord[], audit?: AuditEntry, maxPendingPerAgent = Number.POSITIVE_INFINITY): Promise<void> {
    // Serializable (decision 0034): two creates for one agent at N-1 both read N-1 undelivered and
    // both insert; PostgreSQL aborts one of them (retried by runTransaction, which then reads N).
    // SQLite has one connection, one writer: the check and the insert are never interleaved.
    await runTransaction(this.#db, async (trx) => {
      if (Number.isFinite(maxPendingPerAgent)) {
        const backlog = await trx.selectFrom('delivery_commands').select(['client_id', (eb) => eb.fn.countAll<string | number>().as('pending')])
          .where('tenant_id', '=', job.tenant).where('client_id', 'in', commands.map((command) => command.clientId))
          .where('status', 'in', UNDELIVERED).where('expires_at', '>', iso(job.createdAt)).groupBy('client_id').execute();
        const full = backlog.find((row) => Number(row.pending) >= maxPendingPerAgent);
        if (full) throw agentBacklogFull(full.client_id, maxPendingPerAgent);
      }
      await trx.insertInto('delivery_jobs').values({
        id: job.id, tenant_id: job.tenant, name: job.name, client_ids: JSON.stringify(job.clientIds), data: JSON.stringify(job.data),
        status: job.status, created_by: job.createdBy.slice(0, 256), created_at: iso(job.createdAt), updated_at: iso(job.updatedAt),
      }).execute();
      await trx.insertInto('delivery_commands').values(commands.map((command) => ({
        id: command.id, job_id: command.jobId, tenant_id: command.tenant, client_id: command.clientId, status: command.status,
        created_at: iso(command.createdAt), updated_at: iso(command.updatedAt), expires_at: iso(command.expiresAt),
        sent_at: null, delivered_at: null, response: null, agent_timestamp: null,
      }))).execute();
      await writeAuditEvent(trx, audit);
    }, { isSerializable: Number.isFinite(maxPendingPerAgent) });
  }

  async list(tenant: TenantId, after: DeliveryJobPosition | undefined, limit: number): Promise<DeliveryJobRecord[]> {
    let query = this.#db.selectFrom('delivery_jobs').selectAll().where('tenant_id', '=', tenant);
    if (after !== undefined) {
      const time = iso(after.createdAt);
      query = query.where((eb) => eb.or([eb('created_at', '<', time), eb.and([eb('created_at', '=', time), eb('id', '<', after.id)])]));
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(jobOf);
  }

  async find(tenant: TenantId, id: string): Promise<DeliveryJobRecord | undefined> {
    const row = await this.#db.selectFrom('delivery_jobs').selectAll().where('tenant_id', '=', tenant).where('id', '=', id).executeTakeFirst();
    return row ? jobOf(row) : undefined;
  }

  async listCommands(tenant: TenantId, jobId: string): Promise<CommandRecord[]> {
    const rows = await this.#db.selectFrom('delivery_commands').selectAll()
      .where('tenant_id', '=', tenant).where('job_id', '=', jobId).orderBy('client_id').execute();
    return rows.map(commandOf);
  }

  async cancel(tenant: TenantId, id: string, at: Date, audit?: AuditEntry) {
    return runTransaction(this.#db, async (trx) => {
      const job = await trx.selectFrom('delivery_jobs').selectAll().where('tenant_id', '=', tenant).where('id', '=', id).executeTakeFirst();
      if (!job) return undefined;
      const canceled = await trx.updateTable('delivery_commands').set({ status: 'CANCELED', updated_at: iso(at) })
        .where('job_id', '=', id).where('status', 'in', UNDELIVERED).returningAll().execute();
      for (const command of canceled) await commandUpdated(trx, command, 'CANCELED', at);
      // For the forward filter: only published commands can sit in a session's queue (decision 0034).
      const canceledCommandIds = canceled.filter((command) => command.sent_at !== null).map((command) => command.id);
      if (job.status === 'CANCELED') return { job: jobOf(job), canceledCommandIds };
      const updated = await trx.updateTable('delivery_jobs').set({ status: 'CANCELED', updated_at: iso(at) })
        .where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      await writeAuditEvent(trx, audit);
      return { job: jobOf(updated), canceledCommandIds };
    }, { isSerializable: true });
  }

  async claimForSending(tenant: TenantId, clientId: string, at: Date, sentBefore?: Date, skip?: ReadonlySet<string>): Promise<CommandToSend[]> {
    const candidates = await this.#db.selectFrom('delivery_commands').select(['id', 'sent_at'])
      .where('tenant_id', '=', tenant).where('client_id', '=', clientId).where('status', 'in', UNDELIVERED)
      .where('expires_at', '>', iso(at)).orderBy('created_at').execute();
    const ids = candidates.filter((row) => (row.sent_at === null || (sentBefore !== undefined && row.sent_at < iso(sentBefore))) && skip?.has(row.id) !== true)
      .map((row) => row.id);
    // Bounded per claim: the sweep (never-sent commands) or the next SUBSCRIBE sends the rest.
    return this.#claim(tenant, ids.slice(0, MAX_COMMANDS_PER_CLAIM), at, sentBefore);
  }

  async claimNew(tenant: TenantId, ids: readonly string[], at: Date): Promise<CommandToSend[]> {
    return this.#claim(tenant, ids, at, undefined);
  }

  async #claim(tenant: TenantId, ids: readonly string[], at: Date, sentBefore: Date | undefined): Promise<CommandToSend[]> {
    const claimed: CommandToSend[] = [];
    for (const id of ids) {
      // One conditional update per command: of two nodes claiming at once, one gets the row.
      const row = await this.#db.updateTable('delivery_commands').set({ status: 'SENT', sent_at: iso(at) })
        .where('id', '=', id).where('tenant_id', '=', tenant).where('status', 'in', UNDELIVERED).where('expires_at', '>', iso(at))
        .where((eb) => sentBefore === undefined ? eb('sent_at', 'is', null) : eb.or([eb('sent_at', 'is', null), eb('sent_at', '<', iso(sentBefore))]))
        .returningAll().executeTakeFirst();
      if (!row) continue;
      const job = await this.#db.selectFrom('delivery_jobs').select(['data', 'status']).where('id', '=', row.job_id).executeTakeFirst();
      if (!job || job.status === 'CANCELED') continue;
      claimed.push({ id: row.id, jobId: row.job_id, tenant, clientId: row.client_id, createdAt: new Date(row.created_at), payload: JSON.parse(job.data) });
    }
    return claimed;
  }

  async markDelivered(tenant: TenantId, clientId: string, commandId: string, at: Date): Promise<boolean> {
    return runTransaction(this.#db, async (trx) => {
      const row = await trx.updateTable('delivery_commands').set({ status: 'DELIVERED', delivered_at: iso(at), updated_at: iso(at) })
        .where('id', '=', commandId).where('tenant_id', '=', tenant).where('client_id', '=', clientId).where('status', 'in', UNDELIVERED)
        .returningAll().executeTakeFirst();
      if (!row) return false;
      await commandUpdated(trx, row, 'DELIVERED', at);
      return true;
    });
  }

  async applyAgentUpdate(update: AgentCommandUpdate): Promise<CommandUpdateOutcome> {
    return runTransaction(this.#db, async (trx) => {
      const known = await trx.selectFrom('delivery_commands').select(['id', 'status']).where('id', '=', update.commandId)
        .where('tenant_id', '=', update.tenant).where('client_id', '=', update.clientId).where('job_id', '=', update.jobId).executeTakeFirst();
      if (!known) return 'unknown';
      const row = await trx.updateTable('delivery_commands').set({
        status: update.status, updated_at: iso(update.at),
        ...(update.responseJson === undefined ? {} : { response: update.responseJson }),
        ...(update.agentTimestamp === undefined ? {} : { agent_timestamp: update.agentTimestamp.slice(0, 64) }),
      }).where('id', '=', update.commandId).where('status', 'in', FROM_FOR[update.status]).returningAll().executeTakeFirst();
      if (!row) return 'unchanged';
      // A report before the PUBACK was seen (or with it lost) proves the delivery.
      if (row.delivered_at === null) await trx.updateTable('delivery_commands').set({ delivered_at: iso(update.at) }).where('id', '=', row.id).execute();
      await commandUpdated(trx, row, update.status, update.at);
      await this.#settleJob(trx, row.job_id, update.at);
      return 'applied';
    });
  }

  async expire(now: Date, batchSize: number): Promise<number> {
    const due = await this.#db.selectFrom('delivery_commands').select('id')
      .where('status', 'in', UNDELIVERED).where('expires_at', '<=', iso(now)).limit(batchSize).execute();
    let expired = 0;
    for (const { id } of due) {
      const done = await runTransaction(this.#db, async (trx) => {
        const row = await trx.updateTable('delivery_commands').set({ status: 'EXPIRED', updated_at: iso(now) })
          .where('id', '=', id).where('status', 'in', UNDELIVERED).returningAll().executeTakeFirst();
        if (!row) return false;
        await commandUpdated(trx, row, 'EXPIRED', now);
        await this.#settleJob(trx, row.job_id, now);
        return true;
      });
      if (done) expired += 1;
    }
    return expired;
  }

  // Only published commands (sent_at set) can sit in a session's queue; a never-sent one is simply
  // never claimed (claims skip CANCELED rows). The newest `limit`, answered oldest first.
  async canceledCommandIdsSince(since: Date, limit: number): Promise<string[]> {
    const rows = await this.#db.selectFrom('delivery_commands').select('id')
      .where('status', '=', 'CANCELED').where('sent_at', 'is not', null).where('updated_at', '>=', iso(since))
      .orderBy('updated_at', 'desc').limit(limit).execute();
    return rows.map((row) => row.id).reverse();
  }

  async canceledCommandIdsFor(tenant: TenantId, clientId: string, now: Date, limit: number): Promise<string[]> {
    const rows = await this.#db.selectFrom('delivery_commands').select('id')
      .where('tenant_id', '=', tenant).where('client_id', '=', clientId).where('status', '=', 'CANCELED')
      .where('sent_at', 'is not', null).where('expires_at', '>', iso(now)).orderBy('updated_at', 'desc').limit(limit).execute();
    return rows.map((row) => row.id).reverse();
  }

  // Retention (TRUSTGATE_COMMAND_RETENTION_DAYS): a job goes when nothing is left to happen to it —
  // no command undelivered (those expire first), nothing changed since `before`. A DELIVERED or
  // EXECUTING command whose agent stayed silent that long counts as settled: its late report then
  // finds no command ('unknown', logged) instead of keeping the job forever.
  async pruneSettled(before: Date, batchSize: number): Promise<number> {
    const time = iso(before);
    return runTransaction(this.#db, async (trx) => {
      const ids = (await trx.selectFrom('delivery_jobs').select('id').where('updated_at', '<', time)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('delivery_commands').select('delivery_commands.id')
          .whereRef('delivery_commands.job_id', '=', 'delivery_jobs.id')
          .where((eb) => eb.or([eb('delivery_commands.status', 'in', UNDELIVERED), eb('delivery_commands.updated_at', '>=', time)])))))
        .limit(batchSize).execute()).map((row) => row.id);
      if (ids.length === 0) return 0;
      await trx.deleteFrom('delivery_commands').where('job_id', 'in', ids).execute();
      await trx.deleteFrom('delivery_jobs').where('id', 'in', ids).execute();
      return ids.length;
    });
  }

  async agentsWithUnsentCommands(sentBefore: Date, now: Date, limit: number): Promise<{ tenant: TenantId; clientId: string }[]> {
    const rows = await this.#db.selectFrom('delivery_commands').select(['tenant_id', 'client_id']).distinct()
      .where('status', 'in', UNDELIVERED).where('expires_at', '>', iso(now))
      .where((eb) => eb.or([eb('sent_at', 'is', null), eb('sent_at', '<', iso(sentBefore))]))
      .limit(limit).execute();
    return rows.map((row) => ({ tenant: row.tenant_id as TenantId, clientId: row.client_id }));
  }

  /** The job's status from its commands' (jobStatusOf); a canceled job stays canceled. */
  async #settleJob(trx: Transaction<Database>, jobId: string, at: Date): Promise<void> {
    const job = await trx.selectFrom('delivery_jobs').select('status').where('id', '=', jobId).executeTakeFirst();
    if (!job || job.status === 'CANCELED') return;
    const statuses = (await trx.selectFrom('delivery_commands').select('status').where('job_id', '=', jobId).execute()).map((row) => row.status as CommandStatus);
    const status = jobStatusOf(false, statuses);
    if (status !== job.status) {
      await trx.updateTable('delivery_jobs').set({ status, updated_at: iso(at) }).where('id', '=', jobId).where('status', '=', job.status).execute();
    }
  }
}
