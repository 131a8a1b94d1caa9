import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { newResourceId, type AgentId, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { AgentConnection, AgentRecord, AgentStore } from '../registry/index.ts';
import { runTransaction } from './run-transaction.ts';
import { isDatabaseUnreachable } from './translate-driver-error.ts';
import type { AgentsTable, Database } from './tables.ts';

const toRecord = (row: Selectable<AgentsTable>): AgentRecord => ({
  id: row.id as AgentId,
  tenant: row.tenant_id as TenantId,
  clientId: row.client_id,
  commonName: row.common_name,
  caCertificateId: row.ca_certificate_id as CaCertificateId,
  certificateFingerprintSha256: row.certificate_fingerprint_sha256,
  isEnabled: Boolean(row.is_enabled),
  isOnline: Boolean(row.is_online),
  firstConnectedAt: new Date(row.first_connected_at),
  lastConnectedAt: new Date(row.last_connected_at),
});

type ConnectionChanges = Pick<AgentsTable, 'common_name' | 'ca_certificate_id' | 'certificate_fingerprint_sha256' | 'session_id' | 'last_connected_at'> & { is_online: number };

type Write =
  /** A known agent reconnected: written after the CONNACK, and only while it is enabled. */
  | { readonly kind: 'reconnection'; readonly tenant: TenantId; readonly agentId: string; readonly changes: ConnectionChanges }
  | { readonly kind: 'disconnection'; readonly tenant: TenantId; readonly agentId: string; readonly sessionId: string }
  /** A first connection: committed before the caller is answered. */
  | {
    readonly kind: 'onboarding';
    readonly connection: AgentConnection;
    readonly changes: ConnectionChanges;
    readonly settle: (outcome: { record: AgentRecord | { readonly isDisabled: true } } | { error: unknown }) => void;
  };

// How long a reconnection's or disconnection's record update may wait, so that a reconnect storm
// costs one synchronous commit (fsync) per batch instead of two per agent.
const DEFERRED_WRITE_DELAY_MS = 50;

export interface KyselyAgentStoreOptions {
  /** Deferred writes have no caller to fail: their errors go here. */
  readonly onDeferredWriteError?: (error: unknown) => void;
}

// The connect path's store. A known agent's reconnection needs only a read (is it enabled?) before
// the CONNACK; its record update (online, last connected, certificate) and every disconnection are
// queued and written in one transaction per batch. A first connection is committed before it is
// answered (several onboardings share a commit). Writes are applied in the order they were made,
// and every other method first waits for the queued writes, so readers see them and admin writes
// (disable, delete) land after them. A crash loses at most the last batch of online/last-connected
// updates, which the next start resets anyway (markAllOffline); never an onboarding.
export class KyselyAgentStore implements AgentStore {
  readonly #db: Kysely<Database>;
  readonly #onDeferredWriteError: (error: unknown) => void;
  #queue: Write[] = [];
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #isClosed = false;

  constructor(db: Kysely<Database>, { onDeferredWriteError = (error) => console.error('agent record update failed', error) }: KyselyAgentStoreOptions = {}) {
    this.#db = db;
    this.#onDeferredWriteError = onDeferredWriteError;
  }

  async recordConnection(connection: AgentConnection): Promise<AgentRecord | { readonly isDisabled: true }> {
    const changes: ConnectionChanges = {
      common_name: connection.commonName,
      ca_certificate_id: connection.caCertificateId,
      certificate_fingerprint_sha256: connection.certificateFingerprintSha256,
      is_online: 1,
      session_id: connection.sessionId,
      last_connected_at: connection.at.toISOString(),
    };
    // is_enabled and the row's existence are never changed by queued writes of other kinds, so
    // this read decides without waiting for them. A disable committed after it is caught by the
    // session registry (the agentDisabled event closes the session, also one still being admitted).
    const existing = await this.#selectByClientId(connection.tenant, connection.clientId);
    if (existing && !existing.is_enabled) return { isDisabled: true };
    if (existing) {
      this.#enqueue({ kind: 'reconnection', tenant: connection.tenant, agentId: existing.id, changes });
      return toRecord({ ...existing, ...changes });
    }
    const outcome = await new Promise<{ record: AgentRecord | { readonly isDisabled: true } } | { error: unknown }>((settle) => {
      this.#enqueue({ kind: 'onboarding', connection, changes, settle });
    });
    if ('error' in outcome) throw outcome.error;
    return outcome.record;
  }

  async recordDisconnection(tenant: TenantId, agentId: AgentId, sessionId: string): Promise<void> {
    this.#enqueue({ kind: 'disconnection', tenant, agentId, sessionId });
  }

  /** Writes every queued update; resolves once they are committed (or reported as failed). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#flushing = this.#flushing.then(() => this.#writeQueued());
    return this.#flushing;
  }

  /** Writes what is queued; later deferred updates are dropped (the next start marks every agent offline). */
  async close(): Promise<void> {
    this.#isClosed = true;
    await this.flush();
  }

  async markAllOffline(nodeId?: string): Promise<void> {
    await this.flush();
    let update = this.#db.updateTable('agents').set({ is_online: 0, session_id: null }).where('is_online', '=', 1);
    // substr, not LIKE: "_" in a node id would be a wildcard.
    if (nodeId !== undefined) update = update.where(sql<string>`substr(session_id, 1, ${nodeId.length + 1})`, '=', `${nodeId}.`);
    await update.execute();
  }

  async findByClientId(tenant: TenantId, clientId: string): Promise<AgentRecord | undefined> {
    await this.flush();
    const row = await this.#selectByClientId(tenant, clientId);
    return row && toRecord(row);
  }

  async list(tenant: TenantId): Promise<AgentRecord[]> {
    await this.flush();
    const rows = await this.#db.selectFrom('agents').selectAll().where('tenant_id', '=', tenant)
      .orderBy('first_connected_at').orderBy('id').execute();
    return rows.map(toRecord);
  }

  async find(tenant: TenantId, id: AgentId): Promise<AgentRecord | undefined> {
    await this.flush();
    const row = await this.#db.selectFrom('agents').selectAll().where('tenant_id', '=', tenant).where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async setEnabled(tenant: TenantId, id: AgentId, isEnabled: boolean): Promise<AgentRecord | undefined> {
    await this.flush();
    const row = await this.#db.updateTable('agents').set({ is_enabled: isEnabled ? 1 : 0 })
      .where('tenant_id', '=', tenant).where('id', '=', id).returningAll().executeTakeFirst();
    return row && toRecord(row);
  }

  async remove(tenant: TenantId, id: AgentId): Promise<AgentRecord | undefined> {
    await this.flush();
    const row = await this.#db.deleteFrom('agents').where('tenant_id', '=', tenant).where('id', '=', id).returningAll().executeTakeFirst();
    return row && toRecord(row);
  }

  #selectByClientId(tenant: TenantId, clientId: string): Promise<Selectable<AgentsTable> | undefined> {
    return this.#db.selectFrom('agents').selectAll().where('tenant_id', '=', tenant).where('client_id', '=', clientId).executeTakeFirst();
  }

  #enqueue(write: Write): void {
    if (this.#isClosed) {
      if (write.kind === 'onboarding') write.settle({ error: new Error('the agent store is closed') });
      return;
    }
    this.#queue.push(write);
    if (write.kind === 'onboarding') {
      // Soon, not later: the agent waits for its CONNACK. Onboardings admitted in the same turn of
      // the event loop share the commit.
      this.#immediate ??= setImmediate(() => {
        this.#immediate = undefined;
        void this.flush();
      });
    } else if (!this.#timer && !this.#immediate) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, DEFERRED_WRITE_DELAY_MS);
      this.#timer.unref();
    }
  }

  async #writeQueued(): Promise<void> {
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    try {
      await this.#writeInOneTransaction(batch);
      return;
    } catch (error) {
      // An unreachable database fails every write alike: retrying them one by one would only
      // multiply the wait (one connect timeout each).
      if (batch.length === 1 || isDatabaseUnreachable(error)) {
        this.#fail(batch, error);
        return;
      }
    }
    // One operation's failure (say a row that breaks a column limit) rolled the shared transaction
    // back for every tenant in it. Each write then runs alone, in the same order, so the bad one
    // fails only its own caller and the others commit (issue 10, finding 11).
    for (const [index, write] of batch.entries()) {
      try {
        await this.#writeInOneTransaction([write]);
      } catch (error) {
        if (isDatabaseUnreachable(error)) {
          this.#fail(batch.slice(index), error);
          return;
        }
        this.#fail([write], error);
      }
    }
  }

  // READ COMMITTED suffices: every write is one statement, and onboarding's insert is decided by
  // the unique (tenant_id, client_id) constraint. A deadlock with another node's batch is retried.
  async #writeInOneTransaction(writes: readonly Write[]): Promise<void> {
    type Outcome = { settle: Extract<Write, { kind: 'onboarding' }>['settle']; record: AgentRecord | { readonly isDisabled: true } };
    const outcomes = await runTransaction(this.#db, async (trx) => {
      const settled: Outcome[] = [];
      for (const write of writes) {
        if (write.kind === 'onboarding') settled.push({ settle: write.settle, record: await this.#onboard(trx, write.connection, write.changes) });
        else await this.#apply(trx, write);
      }
      return settled;
    });
    // Only after the commit: an onboarding is answered once it is durable.
    for (const { settle, record } of outcomes) settle({ record });
  }

  /** Onboardings are answered with the error; deferred writes have no caller, so one report. */
  #fail(writes: readonly Write[], error: unknown): void {
    for (const write of writes) if (write.kind === 'onboarding') write.settle({ error });
    if (writes.every((write) => write.kind === 'onboarding')) return;
    try {
      this.#onDeferredWriteError(error);
    } catch {
      // A failing reporter must not stop later flushes.
    }
  }

  async #apply(trx: Transaction<Database>, write: Exclude<Write, { kind: 'onboarding' }>): Promise<void> {
    if (write.kind === 'reconnection') {
      // By id, not client id: an agent deleted and onboarded anew since is another record.
      await trx.updateTable('agents').set(write.changes)
        .where('tenant_id', '=', write.tenant).where('id', '=', write.agentId).where('is_enabled', '=', 1).execute();
    } else {
      await trx.updateTable('agents').set({ is_online: 0, session_id: null })
        .where('tenant_id', '=', write.tenant).where('id', '=', write.agentId).where('session_id', '=', write.sessionId).execute();
    }
  }

  // Two first connections of one agent can share a batch: the second finds the first's row and updates it.
  async #onboard(trx: Transaction<Database>, connection: AgentConnection, changes: ConnectionChanges): Promise<AgentRecord | { readonly isDisabled: true }> {
    const inserted = await trx.insertInto('agents').values({
      id: newResourceId(),
      tenant_id: connection.tenant,
      client_id: connection.clientId,
      ...changes,
      is_enabled: 1,
      first_connected_at: changes.last_connected_at,
    }).onConflict((conflict) => conflict.columns(['tenant_id', 'client_id']).doNothing()).returningAll().executeTakeFirst();
    if (inserted) return toRecord(inserted);
    // The enabled check is part of the update, so a disable racing this connect wins.
    const updated = await trx.updateTable('agents').set(changes)
      .where('tenant_id', '=', connection.tenant).where('client_id', '=', connection.clientId).where('is_enabled', '=', 1)
      .returningAll().executeTakeFirst();
    return updated ? toRecord(updated) : { isDisabled: true };
  }
}
