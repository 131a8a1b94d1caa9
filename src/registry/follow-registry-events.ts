import type { Clock } from '../shared/index.ts';
import type { RegistryEventFeed } from './cluster-bus.ts';
import type { RegistryEvent, StoredRecord } from './events.ts';
import type { AgentStore } from './ports.ts';
import { completeRevocation, followTrustIndex, withdrawalOf, type LiveAgentSession, type TrustSources } from './sync-trust-index.ts';
import type { TrustIndex } from './trust-index.ts';

/** This node's agent sessions, as the registry needs them (the MQTT broker implements it). */
export interface AgentSessions {
  /** Closes the sessions the event withdraws trust from (CA deleted, certificate revoked, agent
   *  disabled or deleted); any other event closes nothing. */
  closeSessionsFor(event: RegistryEvent): void;
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
}

export interface RegistryEventFollower {
  /** Loads the trust index from the store (at start). Events heard meanwhile are applied after. */
  load(): Promise<void>;
  /** From now on, events and resyncs also close the sessions they withdraw trust from. Until then
   *  there are none: the broker starts after the index is loaded. */
  attachSessions(sessions: AgentSessions): void;
}

const noSessions: AgentSessions = { closeSessionsFor: () => undefined, liveAgentSessions: () => [] };

/**
 * The one listener of the registry's events on a node: each event updates the trust index, then
 * closes the sessions it withdraws trust from — in that order, so a session closed for a deleted
 * CA or a revoked certificate cannot be admitted again. Subscribes before the first load, so an
 * event that lands during the load is applied after it, never lost between the two.
 */
export const followRegistryEvents = ({ feed, trustIndex, sources, agents, clock, log }: RegistryEventFollowerOptions): RegistryEventFollower => {
  const trust = followTrustIndex(trustIndex, sources);
  let sessions = noSessions;

  const apply = async (event: RegistryEvent, stored?: StoredRecord): Promise<void> => {
    try {
      await trust.onEvent(event, stored);
    } finally {
      // Closing fails safe, so it happens even if the index could not read a record back (the
      // failure is still reported by the bus).
      sessions.closeSessionsFor(event);
      // A revocation from a node of the previous release names no issuer or serial: close by what
      // the index (which has just read the revocation back) now says.
      for (const complete of completeRevocation(trustIndex, sessions.liveAgentSessions(), event)) sessions.closeSessionsFor(complete);
    }
  };

  // This node may have missed events (a cluster node whose subscription was down): trust may have
  // been withdrawn meanwhile, so the index is rebuilt and every live session checked against it.
  const resync = async (): Promise<void> => {
    await trust.reload(clock.now());
    let closed = 0;
    for (const session of sessions.liveAgentSessions()) {
      const withdrawal = await withdrawalOf(trustIndex, agents, session);
      if (withdrawal) {
        sessions.closeSessionsFor(withdrawal);
        closed += 1;
      }
    }
    log.info({ caCertificates: trustIndex.size, sessionsClosed: closed }, 'cluster bus back: trust index reloaded, live sessions re-checked');
  };

  feed.subscribe(apply);
  feed.onResync(resync);
  return {
    load: () => trust.reload(clock.now()),
    attachSessions(attached) {
      sessions = attached;
    },
  };
};
