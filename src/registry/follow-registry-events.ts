import type { Clock } from '../shared/index.ts';
import type { RegistryEventFeed } from './cluster-bus.ts';
import type { RegistryEvent, StoredRecord } from './events.ts';
import type { AgentStore } from './ports.ts';
import { completeRevocation, followTrustIndex, withdrawalOf, type LiveAgentSession, type TrustSources } from './sync-trust-index.ts';
import type { TrustChangeCounter } from './trust-changes.ts';
import type { TrustIndex } from './trust-index.ts';
import type { AuditTrail } from './audit-trail.ts';
import { SYSTEM_ACTOR } from './audit-context.ts';

/** This node's agent sessions, as the registry needs them (the MQTT broker implements it). */
export interface AgentSessions {
  /** Closes the sessions the event withdraws trust from (CA deleted, certificate revoked, agent
   *  disabled or deleted); any other event closes nothing. Answers the client ids it closed. */
  closeSessionsFor(event: RegistryEvent): readonly string[] | void;
  /** The agents connected to this node now. */
  liveAgentSessions(): readonly LiveAgentSession[];
}

/** What the follower reports (pino's Logger fits). */
export interface FollowerLog {
  info(fields: object, message: string): void;
}

export interface RegistryEventFollowerOptions {
  readonly feed: RegistryEventFeed;
  readonly trustIndex: TrustIndex;
  readonly sources: TrustSources;
  readonly agents: Pick<AgentStore, 'find'>;
  readonly clock: Clock;
  readonly log: FollowerLog;
  /** The database's trust change counter (decision 0018): with it, `converge()` can tell that
   *  this node's index may be behind the database although no event said so. */
  readonly changes?: TrustChangeCounter;
  /** Where each session closed by a trust change is recorded (`session.closed`, on the node that closed it). */
  readonly audit?: AuditTrail;
}

export interface RegistryEventFollower {
  /** Loads the trust index from the store (at start). Events heard meanwhile are applied after. */
  load(): Promise<void>;
  /** From now on, events and resyncs also close the sessions they withdraw trust from. Until then
   *  there are none: the broker starts after the index is loaded. */
  attachSessions(sessions: AgentSessions): void;
  /** Resyncs (reload, re-check live sessions) if the database's trust change counter moved since
   *  the value read before the last load: an event may have been lost (a node killed between its
   *  commit and its publish, a publish dropped with Redis away). Resolves whether it resynced;
   *  rejects if the counter cannot be read. Without a counter: never resyncs. */
  converge(): Promise<boolean>;
}

const noSessions: AgentSessions = { closeSessionsFor: () => undefined, liveAgentSessions: () => [] };

/**
 * The one listener of the registry's events on a node: each event updates the trust index, then
 * closes the sessions it withdraws trust from — in that order, so a session closed for a deleted
 * CA or a revoked certificate cannot be admitted again. Subscribes before the first load, so an
 * event that lands during the load is applied after it, never lost between the two.
 */
export const followRegistryEvents = ({ feed, trustIndex, sources, agents, clock, log, changes, audit }: RegistryEventFollowerOptions): RegistryEventFollower => {
  const trust = followTrustIndex(trustIndex, sources);
  let sessions = noSessions;
  // The counter's value read before the last load that completed: the index holds every change
  // counted up to it (the load read the store after it). Undefined: not known, the next
  // converge() resyncs.
  let applied: string | undefined;
  // Loads run one at a time, so `applied` always belongs to the snapshot that was swapped in last.
  let loads: Promise<void> = Promise.resolve();

  const readChanges = async (): Promise<string | undefined> => {
    try {
      return await changes?.read();
    } catch {
      return undefined;
    }
  };

  // One entry per closed session, actor trustgate, reason = the trust change. Recorded after the
  // close, one after the other in the background: a CA deleted under 10,000 agents must neither
  // delay the closing nor send 10,000 inserts to the database at once (`record` never rejects).
  let recording: Promise<void> = Promise.resolve();
  const close = (event: RegistryEvent): void => {
    const closed = sessions.closeSessionsFor(event) ?? [];
    if (!audit || closed.length === 0) return;
    const time = clock.now();
    recording = recording.then(async () => {
      for (const clientId of closed) {
        await audit.record({ time, tenant: event.tenant, actor: SYSTEM_ACTOR, action: 'session.closed', target: `agent:${clientId}`, outcome: 'success', reason: event.type, count: 1 });
      }
    });
  };

  const reloadSerially = (): Promise<void> => {
    const run = loads.then(async () => {
      const before = await readChanges();
      await trust.reload(clock.now());
      applied = before;
    });
    loads = run.catch(() => undefined);
    return run;
  };

  // Trust events arrive at least once (decision 0019): a late copy of "agent disabled" must not
  // close the session of an agent enabled again since. The store says whether it still holds; if
  // it cannot be asked, the session is closed (fails safe; the agent reconnects if it may).
  const stillWithdrawn = async (event: RegistryEvent): Promise<boolean> => {
    if (event.type !== 'agentDisabled') return true;
    try {
      const agent = await agents.find(event.tenant, event.agentId);
      return !agent?.isEnabled;
    } catch {
      return true;
    }
  };

  const apply = async (event: RegistryEvent, stored?: StoredRecord): Promise<void> => {
    let failure: { error: unknown } | undefined;
    try {
      await trust.onEvent(event, stored);
    } catch (error) {
      failure = { error };
    }
    // Closing fails safe, so it happens even if the index could not read a record back (the
    // failure is still reported by the bus).
    if (await stillWithdrawn(event)) {
      close(event);
      // A revocation from a node of the previous release names no issuer or serial: close by what
      // the index (which has just read the revocation back) now says.
      for (const complete of completeRevocation(trustIndex, sessions.liveAgentSessions(), event)) close(complete);
    }
    if (failure) throw failure.error;
  };

  // This node may have missed events (a cluster node whose subscription was down): trust may have
  // been withdrawn meanwhile, so the index is rebuilt and every live session checked against it.
  const resync = async (message = 'cluster bus back: trust index reloaded, live sessions re-checked'): Promise<void> => {
    await reloadSerially();
    let closed = 0;
    for (const session of sessions.liveAgentSessions()) {
      const withdrawal = await withdrawalOf(trustIndex, agents, session);
      if (withdrawal) {
        close(withdrawal);
        closed += 1;
      }
    }
    log.info({ caCertificates: trustIndex.size, sessionsClosed: closed }, message);
  };

  let converging: Promise<boolean> | undefined;
  const converge = async (): Promise<boolean> => {
    if (!changes) return false;
    const now = await changes.read();
    if (now === applied) return false;
    // Also after a change whose event did arrive: the counter does not say which changes this
    // node has seen, only that the database moved. A reload is cheap next to how rarely trust
    // changes (decision 0018).
    await resync('trust changes counted in the database since the last load: trust index reloaded, live sessions re-checked');
    return true;
  };

  feed.subscribe(apply);
  feed.onResync(() => resync());
  return {
    load: reloadSerially,
    attachSessions(attached) {
      sessions = attached;
    },
    converge() {
      // One at a time: a poll that comes while one runs waits for it instead of starting another.
      converging ??= converge().finally(() => { converging = undefined; });
      return converging;
    },
  };
};
