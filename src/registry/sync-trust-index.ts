import type { RegistryEvent } from './events.ts';
import type { AgentCertificateId, AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import type { AgentCertificateStore, AgentStore, CaCertificateStore, ManagedCaStore } from './ports.ts';
import { TrustIndex } from './trust-index.ts';

/** The stores the trust index is loaded from and reads records back from. */
export interface TrustSources {
  readonly caCertificates: CaCertificateStore;
  readonly managedCas: ManagedCaStore;
  readonly agentCertificates: AgentCertificateStore;
}

export const loadTrustIndex = async (index: TrustIndex, sources: TrustSources, now: Date): Promise<void> => {
  for (const record of await sources.caCertificates.listAll()) index.upsert(record);
  for (const ca of await sources.managedCas.listAll()) index.upsertManagedCa(ca);
  for (const { caCertificateId, serialNumber } of await sources.agentCertificates.listRevokedSerials(now)) index.revoke(caCertificateId, serialNumber);
};

// Keeps the index equal to the store: events carry ids, the record is read back, so a node that
// receives the event from another node (cluster bus) ends up with the same state. A revocation is
// final and carries its issuer and serial number, so it needs no read-back (unless it came from an
// older node that sent only the certificate's id).
export const applyToTrustIndex = async (index: TrustIndex, sources: TrustSources, event: RegistryEvent): Promise<void> => {
  switch (event.type) {
    case 'caCertificateRegistered':
    case 'caCertificateVerified': {
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
    default:
      return;
  }
};

/** After a cluster node missed events (its Redis subscription was down), its index is rebuilt
 *  from the store and swapped in whole. */
export const reloadTrustIndex = async (index: TrustIndex, sources: TrustSources, now: Date): Promise<void> => {
  const fresh = new TrustIndex();
  await loadTrustIndex(fresh, sources, now);
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
export const withdrawalOf = async (index: TrustIndex, agents: AgentStore, session: LiveAgentSession): Promise<RegistryEvent | undefined> => {
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
  if (event.type !== 'agentCertificateRevoked' || event.serialNumber !== '') return [];
  return sessions
    .filter((session) => session.tenant === event.tenant && index.isRevoked(session.caCertificateId, session.certificateSerialNumber))
    .map((session) => ({ ...event, caCertificateId: session.caCertificateId, serialNumber: session.certificateSerialNumber }));
};

/** Keeps an index equal to the store through events, and can rebuild it from the store while
 *  events keep arriving (at start, and after a cluster node missed events). */
export interface TrustIndexFollower {
  onEvent(event: RegistryEvent): Promise<void>;
  /** Loads the store into a fresh index and swaps it in. Events that arrive meanwhile are applied
   *  after the swap, so a CA deleted during a load cannot come back from the load's older snapshot. */
  reload(now: Date): Promise<void>;
}

export const followTrustIndex = (index: TrustIndex, sources: TrustSources): TrustIndexFollower => {
  let held: RegistryEvent[] | undefined;
  return {
    async onEvent(event) {
      if (held) held.push(event);
      else await applyToTrustIndex(index, sources, event);
    },
    async reload(now) {
      const pending: RegistryEvent[] = held ?? [];
      held = pending;
      try {
        await reloadTrustIndex(index, sources, now);
      } finally {
        held = undefined;
        for (const event of pending) await applyToTrustIndex(index, sources, event);
      }
    },
  };
};
