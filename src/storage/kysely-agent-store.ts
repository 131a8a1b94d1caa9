import { sql, type CompiledQuery, type Kysely, type Selectable, type Transaction } from 'kysely';
import { newResourceId, type AgentId, type CaCertificateId, type TenantId } from '../shared/index.ts';
import { certificateChangeOf, type AgentCertificateValidity, type AgentConnection, type AgentListFilter, type AgentRecord, type AgentStore, type AuditEntry, type RecordedConnection } from '../registry/index.ts';
import { precompile, type Precompiled } from './precompiled-query.ts';
import { inParallel, runTransaction, type ExecuteOnConnection } from './run-transaction.ts';
import { writeAuditEvent } from './audit-event-rows.ts';
import { isDatabaseUnreachable } from './translate-driver-error.ts';
import type { AgentsTable, Database } from './tables.ts';

/** NULL on rows written before migration 0009, until the agent's next connection. */
const validityOf = (row: Selectable<AgentsTable>): AgentCertificateValidity | undefined =>
  row.certificate_serial_number !== null && row.certificate_not_before !== null && row.certificate_not_after !== null
    ? { serialNumber: row.certificate_serial_number, notBefore: new Date(row.certificate_not_before), notAfter: new Date(row.certificate_not_after) }
    : undefined;

/** The columns that record the agent's current certificate: every connection writes them (a
 *  reconnection with the same certificate writes the same values). */
export const certificateColumnsOf = (fingerprintSha256: string, validity: AgentCertificateValidity) => ({
  certificate_fingerprint_sha256: fingerprintSha256,
  certificate_serial_number: validity.serialNumber,
  certificate_not_before: validity.notBefore.toISOString(),
  certificate_not_after: validity.notAfter.toISOString(),
});

const toRecord = (row: Selectable<AgentsTable>): AgentRecord => ({
  id: row.id as AgentId,
  tenant: row.tenant_id as TenantId,
  clientId: row.client_id,
  commonName: row.common_name,
  caCertificateId: row.ca_certificate_id as CaCertificateId,
  certificateFingerprintSha256: row.certificate_fingerprint_sha256,
  certificateValidity: validityOf(row),
  isEnabled: Boolean(row.is_enabled),
  isOnline: Boolean(row.is_online),
  firstConnectedAt: new Date(row.first_connected_at),
  lastConnectedAt: new Date(row.last_connected_at),
});

type ConnectionChanges = Pick<AgentsTable, 'common_name' | 'ca_certificate_id' | 'certificate_fingerprint_sha256' | 'session_id' | 'last_connected_at'
  | 'certificate_serial_number' | 'certificate_not_before' | 'certificate_not_after'> & { is_online: number };
/** A reconnection's update; without the online state once its own session ended before it was written. */
type ReconnectionChanges = Omit<ConnectionChanges, 'is_online' | 'session_id'> & Partial<Pick<ConnectionChanges, 'is_online' | 'session_id'>>;

type OnboardingRecord = RecordedConnection | { readonly isDisabled: true };
type OnboardingOutcome = { record: OnboardingRecord } | { error: unknown };

type Onboarding = {
  readonly connection: AgentConnection;
  readonly changes: ConnectionChanges;
  readonly settle: (outcome: OnboardingOutcome) => void;
};

/**
 * Every deferred write of one agent not yet committed, coalesced: what the writes made in order
 * would do, in two statements. The sessions that ended are marked offline first (each matches only
 * if the row still holds that session; one taken over by a known session hands the row to it, in
 * the order they ended); then the latest reconnection, if any, overwrites every
 * column a reconnection or disconnection sets. This is exact: a disconnection after a reconnection
 * of another session was a no-op on an enabled agent (the reconnection replaced the session) and
 * is one on a disabled agent wherever it stands; a disconnection of the reconnection's own session
 * folds into it (the reconnection then leaves the online state as the ended sessions left it).
 * So memory stays bounded by the number of agents with writes pending, however long the database is away, and no disconnection is overtaken by an older reconnection.
 */
type PendingUpdate = {
  readonly tenant: TenantId;
  readonly agentId: string;
  /** Each ended session, in the order they ended, with the session that took it over, if known. */
  readonly endedSessions: Map<string, string | undefined>;
  /** A known agent reconnected: written only while it is enabled. */
  reconnection: { readonly sessionId: string; readonly changes: ReconnectionChanges } | undefined;
};

// How long a reconnection's or disconnection's record update may wait, so that a reconnect storm
// costs one synchronous commit (fsync) per batch instead of two per agent.
const DEFERRED_WRITE_DELAY_MS = 50;

// While the database is unreachable the pending updates are kept and retried, first soon (a
// failover or a dropped connection heals in well under a second), then every 2 s at most: the
// online state converges within that bound (plus one write) after the database is back.
const RETRY_FIRST_DELAY_MS = 100;
export const RETRY_MAX_DELAY_MS = 2_000;

const keyOf = (tenant: TenantId, agentId: string): string => `${tenant}\u0000${agentId}`;

// Enabled agents a single node read, kept so that a known agent's reconnect needs no SELECT
// (decision 0032): ~0.5 KiB each, least recently used first out.
export const KNOWN_AGENTS_CAPACITY = 50_000;

const recordReconnection = (pending: PendingUpdate, sessionId: string, changes: ConnectionChanges): void => {
  pending.reconnection = { sessionId, changes };
};

const recordSessionEnd = (pending: PendingUpdate, sessionId: string, takenOverBy: string | undefined): void => {
  // Also kept as an ended session: on a disabled agent the reconnection is not written, and the
  // disconnection then applies to the row as it stands.
  pending.endedSessions.set(sessionId, takenOverBy);
  if (pending.reconnection?.sessionId === sessionId) {
    // A session that ended before its reconnection was written never held the row: the row's
    // online state is not its to change. In a cluster the row may by now hold the session that
    // took this one over on another node (issue 12, item 7: the same client id on two nodes at
    // once); writing "offline" here would hide that live session. A session of this node the row
    // still holds was ended above (endedSessions), so nothing of this node is left online.
    const { is_online: _online, session_id: _session, ...rest } = pending.reconnection.changes;
    pending.reconnection = { sessionId, changes: rest };
  }
};

/** Folds `later` (written after `earlier`) into `earlier`, as if its writes had been made there. */
const mergeUpdates = (earlier: Map<string, PendingUpdate>, later: Map<string, PendingUpdate>): Map<string, PendingUpdate> => {
  for (const [key, update] of later) {
    const into = earlier.get(key);
    if (!into) {
      earlier.set(key, update);
      continue;
    }
    for (const [sessionId, takenOverBy] of update.endedSessions) recordSessionEnd(into, sessionId, takenOverBy);
    if (update.reconnection) into.reconnection = update.reconnection;
  }
  return earlier;
};

export interface KyselyAgentStoreOptions {
  /**
   * Deferred writes have no caller to fail: their errors go here. An unreachable database is
   * reported once per outage (the writes are kept and retried); an agent's update that fails for
   * its own reason (a constraint, bad data) is reported and dropped, and onDeferredWriteDropped called.
   */
  readonly onDeferredWriteError?: (error: unknown) => void;
  /** Called once for every agent whose pending update was dropped (for a counter). */
  readonly onDeferredWriteDropped?: () => void;
  /**
   * Keep the enabled agents read, so a known agent's reconnect needs no SELECT. Only where this
   * store sees every write of is_enabled and every delete: a single node (decision 0032). In a
   * cluster another node's disable would not be seen until a read.
   */
  readonly keepsKnownAgents?: boolean;
}

// The connect path's store. A known agent's reconnection needs only a read (is it enabled?) before
// the CONNACK; its record update (online, last connected, certificate) and every disconnection are
// queued, coalesced per agent, and written in one transaction per batch. A first connection is
// committed before it is answered (several onboardings share a commit). Each agent's writes take
// effect in the order they were made, and every other method first waits for the queued writes,
// so readers see them and admin writes (disable, delete) land after them. While the database is
// unreachable the queued updates are kept and retried with backoff until written (issue 12, item
// 3: dropping them left agents online after a short outage). A crash loses the pending
// online/last-connected updates, which the next start resets anyway (markAllOffline); never an onboarding.
export class KyselyAgentStore implements AgentStore {
  readonly #db: Kysely<Database>;
  readonly #onDeferredWriteError: (error: unknown) => void;
  readonly #onDeferredWriteDropped: () => void;
  #onboardings: Onboarding[] = [];
  #updates = new Map<string, PendingUpdate>();
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #isClosed = false;
  /** Set while the pending updates wait for the database to come back: the next retry's delay. */
  #retryDelayMs: number | undefined;
  // The connect path's statements, compiled once (precompiled-query.ts): the reconnection's read,
  // a batch's "session ended" and reconnection updates (one per set of columns written).
  readonly #selectByClientIdQuery: Precompiled<[TenantId, string], Selectable<AgentsTable>>;
  readonly #markOfflineQuery: Precompiled<[string, string, string], unknown>;
  readonly #reconnectionQueries = new Map<string, Precompiled<unknown[], unknown>>();
  /**
   * With keepsKnownAgents: enabled agents by tenant + client id, as this store last read or wrote
   * them; never a disabled one. This store makes every change of is_enabled and every delete
   * (setEnabled, remove: they forget the agent before and after their write), so an entry is never
   * stale in what admission asks: enabled, and which record.
   */
  readonly #known = new Map<string, Selectable<AgentsTable>>();
  readonly #keepsKnownAgents: boolean;
  /** Moves at every forgetting: a read that started before it may not fill #known. */
  #knownGeneration = 0;

  constructor(db: Kysely<Database>, {
    onDeferredWriteError = (error) => console.error('agent record update failed', error), onDeferredWriteDropped = () => undefined, keepsKnownAgents = false,
  }: KyselyAgentStoreOptions = {}) {
    this.#keepsKnownAgents = keepsKnownAgents;
    this.#db = db;
    this.#onDeferredWriteError = onDeferredWriteError;
    this.#onDeferredWriteDropped = onDeferredWriteDropped;
    this.#selectByClientIdQuery = precompile(2, (tenant: TenantId, clientId: string) =>
      db.selectFrom('agents').selectAll().where('tenant_id', '=', tenant).where('client_id', '=', clientId));
    this.#markOfflineQuery = precompile(3, (tenant: string, agentId: string, sessionId: string) =>
      db.updateTable('agents').set({ is_online: 0, session_id: null }).where('tenant_id', '=', tenant).where('id', '=', agentId).where('session_id', '=', sessionId));
  }

  async recordConnection(connection: AgentConnection): Promise<RecordedConnection | { readonly isDisabled: true }> {
    const changes: ConnectionChanges = {
      common_name: connection.commonName,
      ca_certificate_id: connection.caCertificateId,
      ...certificateColumnsOf(connection.certificateFingerprintSha256, connection.certificateValidity),
      is_online: 1,
      session_id: connection.sessionId,
      last_connected_at: connection.at.toISOString(),
    };
    // is_enabled and the row's existence are never changed by queued writes of other kinds, so
    // this read (or what #known remembers of it) decides without waiting for them. A disable
    // committed after it is caught by the session registry (the agentDisabled event closes the
    // session, also one still being admitted).
    const knownKey = keyOf(connection.tenant, connection.clientId);
    let existing = this.#known.get(knownKey);
    if (existing) {
      // Most recently used last.
      this.#known.delete(knownKey);
    } else {
      const generation = this.#knownGeneration;
      existing = await this.#selectByClientId(connection.tenant, connection.clientId);
      if (existing && !existing.is_enabled) return { isDisabled: true };
      // Something was forgotten while this read ran (maybe this agent, disabled after the read):
      // the answer stands as it would have without the cache, but is not kept.
      if (existing && generation !== this.#knownGeneration) return this.#admitKnown(connection, existing, changes);
    }
    if (existing) {
      const admitted = this.#admitKnown(connection, existing, changes);
      if (this.#isClosed || !this.#keepsKnownAgents) return admitted;
      this.#known.set(knownKey, { ...existing, ...changes });
      if (this.#known.size > KNOWN_AGENTS_CAPACITY) this.#known.delete(this.#known.keys().next().value!);
      return admitted;
    }
    const outcome = await new Promise<OnboardingOutcome>((settle) => {
      this.#enqueueOnboarding({ connection, changes, settle });
    });
    if ('error' in outcome) throw outcome.error;
    return outcome.record;
  }

  /** A known, enabled agent's reconnection: its update queued, its record as it will be. */
  #admitKnown(connection: AgentConnection, existing: Selectable<AgentsTable>, changes: ConnectionChanges): RecordedConnection {
    // What the record holds once the writes queued before this one land: the row, or the last
    // queued reconnection's certificate.
    const held = this.#updates.get(keyOf(connection.tenant, existing.id))?.reconnection?.changes ?? existing;
    const certificateChange = certificateChangeOf({
      caCertificateId: held.ca_certificate_id as CaCertificateId, certificateFingerprintSha256: held.certificate_fingerprint_sha256,
    }, connection);
    this.#enqueueUpdate(connection.tenant, existing.id, (pending) => recordReconnection(pending, connection.sessionId, changes));
    const record = toRecord({ ...existing, ...changes });
    return certificateChange ? { ...record, certificateChange } : record;
  }

  async recordDisconnection(tenant: TenantId, agentId: AgentId, sessionId: string, _at?: Date, takenOverBy?: string): Promise<void> {
    this.#enqueueUpdate(tenant, agentId, (pending) => recordSessionEnd(pending, sessionId, takenOverBy));
  }

  /**
   * Writes every queued update; resolves once they are committed, reported as failed, or (with the
   * database unreachable) kept for the next retry.
   */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#flushing = this.#flushing.then(() => this.#writeQueued());
    return this.#flushing;
  }

  /**
   * Writes what is queued (one attempt: with the database away, the pending updates are reported
   * and dropped); later deferred updates are dropped (the next start marks every agent offline).
   */
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

  async list(tenant: TenantId, { expiringBefore, caCertificateId }: AgentListFilter = {}): Promise<AgentRecord[]> {
    await this.flush();
    let query = this.#db.selectFrom('agents').selectAll().where('tenant_id', '=', tenant);
    // ISO 8601 UTC text of one width compares as the instants do (decision 0003); NULL (validity
    // not known yet) never matches.
    if (expiringBefore !== undefined) query = query.where('certificate_not_after', '<', expiringBefore.toISOString());
    if (caCertificateId !== undefined) query = query.where('ca_certificate_id', '=', caCertificateId);
    const rows = await query.orderBy('first_connected_at').orderBy('id').execute();
    return rows.map(toRecord);
  }

  async find(tenant: TenantId, id: AgentId): Promise<AgentRecord | undefined> {
    await this.flush();
    const row = await this.#db.selectFrom('agents').selectAll().where('tenant_id', '=', tenant).where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async setEnabled(tenant: TenantId, id: AgentId, isEnabled: boolean, audit?: AuditEntry): Promise<AgentRecord | undefined> {
    await this.flush();
    // Forgotten before the write (no connect is admitted from memory while it runs) and after it
    // (a read that ran meanwhile is not kept).
    this.#forgetAgentById(tenant, id);
    const row = await runTransaction(this.#db, async (trx) => {
      const updated = await trx.updateTable('agents').set({ is_enabled: isEnabled ? 1 : 0 })
        .where('tenant_id', '=', tenant).where('id', '=', id).returningAll().executeTakeFirst();
      if (updated) await writeAuditEvent(trx, audit);
      return updated;
    });
    this.#forgetAgentById(tenant, id);
    return row && toRecord(row);
  }

  async remove(tenant: TenantId, id: AgentId, audit?: AuditEntry): Promise<AgentRecord | undefined> {
    await this.flush();
    this.#forgetAgentById(tenant, id);
    const row = await runTransaction(this.#db, async (trx) => {
      const deleted = await trx.deleteFrom('agents').where('tenant_id', '=', tenant).where('id', '=', id).returningAll().executeTakeFirst();
      if (deleted) await writeAuditEvent(trx, audit);
      return deleted;
    });
    this.#forgetAgentById(tenant, id);
    return row && toRecord(row);
  }

  #forgetAgentById(tenant: TenantId, id: AgentId): void {
    this.#knownGeneration += 1;
    // By id: the client id is not known before the write, and these are rare (admin writes).
    for (const [key, row] of this.#known) if (row.id === id && row.tenant_id === tenant) this.#known.delete(key);
  }

  async #selectByClientId(tenant: TenantId, clientId: string): Promise<Selectable<AgentsTable> | undefined> {
    return (await this.#db.executeQuery(this.#selectByClientIdQuery(tenant, clientId))).rows[0];
  }

  /** The reconnection's update by id, written only while the agent is enabled, for this set of columns. */
  #reconnectionQuery(tenant: TenantId, agentId: string, changes: ReconnectionChanges): CompiledQuery {
    const columns = Object.keys(changes) as (keyof ReconnectionChanges)[];
    const shape = columns.join(',');
    let query = this.#reconnectionQueries.get(shape);
    if (!query) {
      const db = this.#db;
      query = precompile(columns.length + 2, (...values: unknown[]) =>
        db.updateTable('agents').set(Object.fromEntries(columns.map((column, index) => [column, values[index]])) as ReconnectionChanges)
          .where('tenant_id', '=', values[columns.length] as string).where('id', '=', values[columns.length + 1] as string).where('is_enabled', '=', 1));
      this.#reconnectionQueries.set(shape, query);
    }
    return query(...columns.map((column) => changes[column]), tenant, agentId);
  }

  #enqueueOnboarding(onboarding: Onboarding): void {
    if (this.#isClosed) {
      onboarding.settle({ error: new Error('the agent store is closed') });
      return;
    }
    this.#onboardings.push(onboarding);
    // Soon, not later: the agent waits for its CONNACK. Onboardings admitted in the same turn of
    // the event loop share the commit (with the pending updates, even while a retry waits).
    this.#immediate ??= setImmediate(() => {
      this.#immediate = undefined;
      void this.flush();
    });
  }

  #enqueueUpdate(tenant: TenantId, agentId: string, record: (pending: PendingUpdate) => void): void {
    if (this.#isClosed) return;
    const key = keyOf(tenant, agentId);
    let pending = this.#updates.get(key);
    if (!pending) {
      pending = { tenant, agentId, endedSessions: new Map(), reconnection: undefined };
      this.#updates.set(key, pending);
    }
    record(pending);
    this.#schedule(DEFERRED_WRITE_DELAY_MS);
  }

  /** Arms the flush timer unless a flush is already due (a retry's backoff delays new updates too). */
  #schedule(delayMs: number): void {
    if (this.#timer || this.#immediate) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delayMs);
    this.#timer.unref();
  }

  async #writeQueued(): Promise<void> {
    const onboardings = this.#onboardings;
    const updates = this.#updates;
    if (onboardings.length === 0 && updates.size === 0) return;
    this.#onboardings = [];
    this.#updates = new Map();
    try {
      await this.#writeInOneTransaction([...updates.values()], onboardings);
      this.#recovered();
      return;
    } catch (error) {
      // An unreachable database fails every write alike: retrying them one by one would only
      // multiply the wait (one connect timeout each).
      if (isDatabaseUnreachable(error)) {
        this.#keepForRetry(updates, error);
        for (const onboarding of onboardings) onboarding.settle({ error });
        return;
      }
      if (updates.size + onboardings.length === 1) {
        this.#drop([...updates.values()], error);
        for (const onboarding of onboardings) onboarding.settle({ error });
        return;
      }
    }
    // One operation's failure (say a row that breaks a column limit) rolled the shared transaction
    // back for every tenant in it. Each agent's update and each onboarding then runs alone, so the
    // bad one fails (or is dropped) alone and the others commit (issue 10, finding 11; issue 12, item 3).
    const remaining = new Map(updates);
    for (const [key, update] of updates) {
      try {
        await this.#writeInOneTransaction([update], []);
        remaining.delete(key);
      } catch (error) {
        if (isDatabaseUnreachable(error)) {
          this.#keepForRetry(remaining, error);
          for (const onboarding of onboardings) onboarding.settle({ error });
          return;
        }
        remaining.delete(key);
        this.#drop([update], error);
      }
    }
    for (const [index, onboarding] of onboardings.entries()) {
      try {
        await this.#writeInOneTransaction([], [onboarding]);
      } catch (error) {
        if (isDatabaseUnreachable(error)) {
          for (const failed of onboardings.slice(index)) failed.settle({ error });
          return;
        }
        onboarding.settle({ error });
      }
    }
    this.#recovered();
  }

  /** The database is away: the updates go back in front of the newer ones, and a retry is armed. */
  #keepForRetry(updates: Map<string, PendingUpdate>, error: unknown): void {
    if (this.#isClosed) {
      if (updates.size > 0) this.#report(error);
      return;
    }
    this.#updates = mergeUpdates(updates, this.#updates);
    if (this.#updates.size === 0) return;
    // Reported when the outage begins, not at every retry.
    if (this.#retryDelayMs === undefined) this.#report(error);
    const delayMs = this.#retryDelayMs ?? RETRY_FIRST_DELAY_MS;
    this.#retryDelayMs = Math.min(delayMs * 2, RETRY_MAX_DELAY_MS);
    // The retry replaces the normal delay: new updates wait for it (they are coalesced meanwhile).
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#schedule(delayMs);
  }

  #recovered(): void {
    this.#retryDelayMs = undefined;
  }

  /** Updates that failed for their own reason: reported and dropped, so they cannot block the others. */
  #drop(updates: readonly PendingUpdate[], error: unknown): void {
    if (updates.length === 0) return;
    this.#report(error);
    for (let count = 0; count < updates.length; count++) {
      try {
        this.#onDeferredWriteDropped();
      } catch {
        // A failing counter must not stop later flushes.
      }
    }
  }

  #report(error: unknown): void {
    try {
      this.#onDeferredWriteError(error);
    } catch {
      // A failing reporter must not stop later flushes.
    }
  }

  // READ COMMITTED suffices: every write is one statement, and onboarding's insert is decided by
  // the unique (tenant_id, client_id) constraint. A deadlock with another node's batch is retried.
  // Updates go first: each concerns an agent whose record was committed before it was queued, so
  // no onboarding in the same batch can precede it.
  async #writeInOneTransaction(updates: readonly PendingUpdate[], onboardings: readonly Onboarding[]): Promise<void> {
    // Not one after the other: each update or onboarding concerns its own agent (two onboardings of
    // one agent are ordered by the unique constraint: the second finds the first's row), and their
    // statements then share messages to SQLite's worker thread (one each, 2 or 3 per connect, cost
    // more CPU than the statements). A failure rolls the whole batch back all the same.
    const outcomes = await runTransaction(this.#db, async (trx) => {
      await inParallel(trx, updates, (update, execute) => this.#apply(execute, update));
      return inParallel(trx, onboardings, async ({ connection, changes, settle }, execute) => ({ settle, record: await this.#onboard(execute, connection, changes) }));
    });
    // Only after the commit: an onboarding is answered once it is durable.
    for (const { settle, record } of outcomes) settle({ record });
  }

  async #apply(execute: ExecuteOnConnection, update: PendingUpdate): Promise<void> {
    const agent = this.#db.updateTable('agents').where('tenant_id', '=', update.tenant).where('id', '=', update.agentId);
    const markOffline = (sessionIds: string[]) => execute(agent.set({ is_online: 0, session_id: null }).where('session_id', 'in', sessionIds).compile());
    const ended = [...update.endedSessions];
    if (ended.length === 1 && ended[0]![1] === undefined) {
      // The common case (one session ended, not taken over): the precompiled statement.
      await execute(this.#markOfflineQuery(update.tenant, update.agentId, ended[0]![0]));
    } else if (ended.every(([, takenOverBy]) => takenOverBy === undefined)) {
      if (ended.length > 0) await markOffline(ended.map(([sessionId]) => sessionId));
    } else {
      // In the order they ended: a session handed on may end in turn.
      for (const [sessionId, takenOverBy] of ended) {
        // A session taken over hands the row to the session that took it (issue 12, item 7: on
        // two nodes, the loser's reconnection may be written after the winner's, and the row then
        // holds the loser); an agent disabled since has no session left to hand it to.
        if (takenOverBy !== undefined) {
          await execute(agent.set({ is_online: 1, session_id: takenOverBy }).where('session_id', '=', sessionId).where('is_enabled', '=', 1).compile());
        }
        await markOffline([sessionId]);
      }
    }
    if (update.reconnection) {
      // By id, not client id: an agent deleted and onboarded anew since is another record.
      await execute(this.#reconnectionQuery(update.tenant, update.agentId, update.reconnection.changes));
    }
  }

  // Two first connections of one agent can share a batch: the second finds the first's row and updates it.
  async #onboard(execute: ExecuteOnConnection, connection: AgentConnection, changes: ConnectionChanges): Promise<OnboardingRecord> {
    const { rows: [inserted] } = await execute<Selectable<AgentsTable>>(this.#db.insertInto('agents').values({
      id: newResourceId(),
      tenant_id: connection.tenant,
      client_id: connection.clientId,
      ...changes,
      is_enabled: 1,
      first_connected_at: changes.last_connected_at,
    }).onConflict((conflict) => conflict.columns(['tenant_id', 'client_id']).doNothing()).returningAll().compile());
    if (inserted) {
      // Committed with the agent, or not at all (a batch that fails rolls both back).
      await writeAuditEvent(this.#db, connection.onboardingAudit, execute);
      return { ...toRecord(inserted), isOnboarded: true };
    }
    // The enabled check is part of the update, so a disable racing this connect wins.
    const { rows: [updated] } = await execute<Selectable<AgentsTable>>(this.#db.updateTable('agents').set(changes)
      .where('tenant_id', '=', connection.tenant).where('client_id', '=', connection.clientId).where('is_enabled', '=', 1)
      .returningAll().compile());
    return updated ? toRecord(updated) : { isDisabled: true };
  }
}
