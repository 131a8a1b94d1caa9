import type { RegistryEvent, StoredRecord } from './events.ts';
import type { AgentCertificateId, AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import type { AgentCertificateStore, AgentStore, CaCertificateStore, ManagedCaStore, RevocationStore } from './ports.ts';
import { TrustIndex } from './trust-index.ts';

/** The stores the trust index is loaded from and reads records back from. */
export interface TrustSources {
  readonly caCertificates: CaCertificateStore;
  readonly managedCas: ManagedCaStore;
  readonly agentCertificates: AgentCertificateStore;
  /** Revocations of uploaded CAs' certificates (issue 15); optional for sources that hold none. */
  readonly revocations?: Pick<RevocationStore, 'listSerials' | 'listAllSerials'>;
}

/** `previous`: an index whose parsed certificates may be reused for the same id and PEM. */
export const loadTrustIndex = async (index: TrustIndex, sources: TrustSources, now: Date, previous?: TrustIndex): Promise<void> => {
  for (const record of await sources.caCertificates.listAll()) index.upsert(record, previous?.parsedCertificate(record.id, record.certificatePem));
  for (const ca of await sources.managedCas.listAll()) index.upsertManagedCa(ca, previous?.parsedCertificate(ca.id, ca.certificatePem));
  for (const { caCertificateId, serialNumber } of await sources.agentCertificates.listRevokedSerials(now)) index.revoke(caCertificateId, serialNumber);
  for (const { caCertificateId, serialNumber } of await sources.revocations?.listAllSerials() ?? []) index.revoke(caCertificateId, serialNumber);
};

// Keeps the index equal to the store. Events carry ids: a node that receives one from another
// node (cluster bus) reads the record back, and ends up with the same state. The node whose use
// case stored the record applies the record it has in hand (`stored`) instead, which followTrustIndex
// passes only when it cannot undo a later change (decision 0017). A revocation is final and carries its issuer and serial number, so
// it needs no read-back (unless it came from an older node that sent only the certificate's id).
export const applyToTrustIndex = async (index: TrustIndex, sources: TrustSources, event: RegistryEvent, stored?: StoredRecord): Promise<void> => {
  switch (event.type) {
    case 'caCertificateRegistered':
    case 'caCertificateVerified': {
      if (stored?.kind === 'caCertificate' && stored.record.id === event.caCertificateId) {
        index.upsert(stored.record, stored.certificate);
        return;
      }
      const record = await sources.caCertificates.find(event.tenant, event.caCertificateId);
      if (record) index.upsert(record);
      else index.remove(event.caCertificateId);
      return;
    }
    case 'caCertificateDeleted':
      index.remove(event.caCertificateId);
      return;
    case 'managedCaCreated': {
      // The certificate only: keeping trust current never needs the CA's (sealed) private key.
      if (stored?.kind === 'managedCa' && stored.record.id === event.caCertificateId) {
        index.upsertManagedCa(stored.record, stored.certificate);
        return;
      }
      const ca = await sources.managedCas.find(event.tenant);
      if (ca) index.upsertManagedCa(ca);
      return;
    }
    case 'agentCertificateRevoked': {
      if (event.serialNumber !== '') {
        index.revoke(event.caCertificateId, event.serialNumber);
        return;
      }
      const record = await sources.agentCertificates.find(event.tenant, event.agentCertificateId);
      if (record?.isRevoked) index.revoke(record.managedCaId, record.serialNumber);
      return;
    }
    case 'caRevocationsChanged':
      if (sources.revocations) index.replaceRevokedSerials(event.caCertificateId, await sources.revocations.listSerials(event.caCertificateId));
      return;
    default:
      return;
  }
};

/** After a cluster node missed events (its Redis subscription was down), its index is rebuilt
 *  from the store and swapped in whole. */
export const reloadTrustIndex = async (index: TrustIndex, sources: TrustSources, now: Date): Promise<void> => {
  const fresh = new TrustIndex();
  // A certificate's PEM never changes under its id: parsing 2,000 CAs again was most of a
  // reload's cost, and a cluster node reloads after every trust change (decision 0018).
  await loadTrustIndex(fresh, sources, now, index);
  index.adopt(fresh);
};

export interface LiveAgentSession {
  readonly tenant: TenantId;
  readonly agentId: AgentId;
  readonly clientId: string;
  readonly caCertificateId: CaCertificateId;
  /** Normalised serial number of the certificate the session was admitted with. */
  readonly certificateSerialNumber: string;
}

/** Whether a session admitted earlier still stands against the (reloaded) index and the agent's
 *  record; if not, the event that would have closed it, so the broker closes it the usual way. */
export const withdrawalOf = async (index: TrustIndex, agents: Pick<AgentStore, 'find'>, session: LiveAgentSession): Promise<RegistryEvent | undefined> => {
  const { tenant, agentId, clientId } = session;
  if (!index.isTrusted(session.caCertificateId)) {
    return { type: 'caCertificateDeleted', tenant, caCertificateId: session.caCertificateId };
  }
  if (index.isRevoked(session.caCertificateId, session.certificateSerialNumber)) {
    return {
      type: 'agentCertificateRevoked', tenant, agentCertificateId: '' as AgentCertificateId,
      caCertificateId: session.caCertificateId, serialNumber: session.certificateSerialNumber,
    };
  }
  const agent = await agents.find(tenant, agentId);
  if (!agent) return { type: 'agentDeleted', tenant, agentId, clientId };
  if (!agent.isEnabled) return { type: 'agentDisabled', tenant, agentId, clientId };
  return undefined;
};

/** A revocation announced by a node of the previous release carries neither issuer nor serial
 *  number (cluster-bus-message.ts decodes both as ''), so the broker's "close by issuer + serial"
 *  would match no session. Once the index has read the revocation back (applyToTrustIndex), this
 *  names, per live session of that tenant the index now finds revoked, the complete event that
 *  closes it. Any other event: nothing to add. */
export const completeRevocation = (index: TrustIndex, sessions: readonly LiveAgentSession[], event: RegistryEvent): RegistryEvent[] => {
  // An uploaded CA's revocations changed (issue 15): the event names the CA, not the serials (a
  // CRL may list 10,000), so each live session of the tenant is checked against the index, which
  // has just read the CA's serials back: a Set lookup per session.
  if (event.type === 'caRevocationsChanged') {
    return sessions
      .filter((session) => session.tenant === event.tenant && index.isRevoked(session.caCertificateId, session.certificateSerialNumber))
      .map((session): RegistryEvent => ({
        type: 'agentCertificateRevoked', tenant: event.tenant, agentCertificateId: '' as AgentCertificateId,
        caCertificateId: session.caCertificateId, serialNumber: session.certificateSerialNumber,
      }));
  }
  if (event.type !== 'agentCertificateRevoked' || event.serialNumber !== '') return [];
  return sessions
    .filter((session) => session.tenant === event.tenant && index.isRevoked(session.caCertificateId, session.certificateSerialNumber))
    .map((session) => ({ ...event, caCertificateId: session.caCertificateId, serialNumber: session.certificateSerialNumber }));
};

/** Keeps an index equal to the store through events, and can rebuild it from the store while
 *  events keep arriving (at start, and after a cluster node missed events). */
export interface TrustIndexFollower {
  onEvent(event: RegistryEvent, stored?: StoredRecord): Promise<void>;
  /** Loads the store into a fresh index and swaps it in. Events that arrive meanwhile are applied
   *  after the swap, so a CA deleted during a load cannot come back from the load's older snapshot. */
  reload(now: Date): Promise<void>;
}

/** Far more CA deletions than can happen while one use case's event is on its way. */
const REMEMBERED_DELETIONS = 10_000;

export const followTrustIndex = (index: TrustIndex, sources: TrustSources): TrustIndexFollower => {
  let held: [RegistryEvent, StoredRecord | undefined][] | undefined;
  // Reloads that overlap (a resync during the load at start) hold events until the last has
  // swapped its snapshot in: none of them may overwrite an event applied in between.
  let reloads = 0;
  const deleted = new Set<string>();
  // A record in hand is as of its use case's write. A change made since by another request (say
  // another node's deletion, whose event got here first) must not be undone by it: a deletion is
  // final and a verification is undone only by one, so a record that would move its CA back
  // (deleted, or verified to unverified) is left aside and the store is asked, as for a remote event.
  // A verification applies to the entry its registration put in the index: with none, the CA may
  // have been deleted past what `deleted` remembers (a burst of bus messages), so the store is asked.
  const current = (stored: StoredRecord | undefined): StoredRecord | undefined => {
    if (stored?.kind !== 'caCertificate') return stored;
    const { id, isVerified } = stored.record;
    const wouldMoveBack = isVerified ? !index.has(id) : index.isTrusted(id);
    return deleted.has(id) || wouldMoveBack ? undefined : stored;
  };
  const apply = (event: RegistryEvent, stored: StoredRecord | undefined): Promise<void> => {
    if (event.type === 'caCertificateDeleted') {
      deleted.add(event.caCertificateId);
      if (deleted.size > REMEMBERED_DELETIONS) deleted.delete(deleted.values().next().value!);
    }
    return applyToTrustIndex(index, sources, event, current(stored));
  };
  return {
    async onEvent(event, stored) {
      if (held) held.push([event, stored]);
      else await apply(event, stored);
    },
    async reload(now) {
      held ??= [];
      reloads += 1;
      try {
        await reloadTrustIndex(index, sources, now);
      } finally {
        reloads -= 1;
        if (reloads === 0 && held) {
          const pending = held;
          held = undefined;
          for (const [event, stored] of pending) await apply(event, stored);
        }
      }
    },
  };
};
