import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCa } from '../../test/support/test-pki.ts';
import type { AgentCertificateId, AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import { InMemoryAgentStore } from './in-memory-agent-store.ts';
import { completeRevocation, followTrustIndex, reloadTrustIndex, withdrawalOf, type LiveAgentSession, type TrustSources } from './sync-trust-index.ts';
import { TrustIndex } from './trust-index.ts';

// After a cluster node missed events, every live agent session is re-checked against the reloaded
// index and the agent's record: each way trust can be withdrawn must be found, and a session that
// still stands must not be closed.
describe('withdrawalOf: re-checking a live agent session', async () => {
  const tenant = 'acme' as TenantId;
  const ca = await createCa();
  const index = new TrustIndex();
  index.upsert({ id: 'ca-verified' as CaCertificateId, tenant, isVerified: true, certificatePem: ca.certificatePem });
  index.upsert({ id: 'ca-unverified' as CaCertificateId, tenant, isVerified: false, certificatePem: ca.certificatePem });
  index.revoke('ca-verified', '0BAD'); // as a printer may write it: upper case, leading zero
  const agents = new InMemoryAgentStore();
  const connect = async (clientId: string) => {
    const agent = await agents.recordConnection({
      tenant, clientId, commonName: clientId, caCertificateId: 'ca-verified' as CaCertificateId,
      certificateFingerprintSha256: 'fp', certificateValidity: { serialNumber: '1', notBefore: new Date(0), notAfter: new Date(0) }, sessionId: `s-${clientId}`, at: new Date(),
    });
    assert.ok(!('isDisabled' in agent));
    return agent.id;
  };
  const enabledId = await connect('acme_enabled');
  const disabledId = await connect('acme_disabled');
  await agents.setEnabled(tenant, disabledId, false);
  const session = (overrides: Partial<LiveAgentSession>): LiveAgentSession => ({
    tenant, agentId: enabledId, clientId: 'acme_enabled', caCertificateId: 'ca-verified' as CaCertificateId, certificateSerialNumber: '1234', ...overrides,
  });

  const cases: [string, Partial<LiveAgentSession>, string | undefined][] = [
    ['still trusted', {}, undefined],
    ['CA deleted meanwhile', { caCertificateId: 'ca-gone' as CaCertificateId }, 'caCertificateDeleted'],
    ['CA no longer verified', { caCertificateId: 'ca-unverified' as CaCertificateId }, 'caCertificateDeleted'],
    ['certificate revoked (issuer + serial number)', { certificateSerialNumber: 'bad' }, 'agentCertificateRevoked'],
    ['agent deleted', { agentId: 'no-such-agent' as AgentId }, 'agentDeleted'],
    ['agent disabled', { agentId: disabledId, clientId: 'acme_disabled' }, 'agentDisabled'],
    ['agent of another tenant id', { tenant: 'other' as TenantId }, 'agentDeleted'],
  ];
  for (const [name, overrides, expected] of cases) {
    it(name, async () => {
      const event = await withdrawalOf(index, agents, session(overrides));
      assert.equal(event?.type, expected);
      if (event) assert.equal(event.tenant, overrides.tenant ?? tenant);
    });
  }
});

describe('followTrustIndex', () => {
  it('an event that arrives while the index reloads is applied after the load, not overwritten by it', async () => {
    const tenant = 'acme' as TenantId;
    const ca = await createCa();
    const record = { id: 'ca-x' as CaCertificateId, tenant, isVerified: true, certificatePem: ca.certificatePem };
    let release!: () => void;
    const loadGate = new Promise<void>((resolve) => { release = resolve; });
    // The load's snapshot was taken before the CA was deleted; the store no longer has it.
    const sources = {
      caCertificates: { listAll: async () => { await loadGate; return [record]; }, find: async () => undefined },
      managedCas: { listAll: async () => [], find: async () => undefined },
      agentCertificates: { listRevokedSerials: async () => [] },
    } as unknown as TrustSources;
    const index = new TrustIndex();
    const follower = followTrustIndex(index, sources);

    const reload = follower.reload(new Date());
    await follower.onEvent({ type: 'caCertificateDeleted', tenant, caCertificateId: record.id });
    release();
    await reload;
    assert.equal(index.isTrusted('ca-x'), false, 'the deletion wins over the older snapshot');

    // Outside a reload, events apply at once.
    await follower.onEvent({ type: 'caCertificateVerified', tenant, caCertificateId: record.id });
    assert.equal(index.isTrusted('ca-x'), false, 'read back from the store, where it is gone');
  });

  it('overlapping reloads (a resync during the load at start) hold events until the last one has swapped its snapshot in', async () => {
    const tenant = 'acme' as TenantId;
    const ca = await createCa();
    const record = { id: 'ca-x' as CaCertificateId, tenant, isVerified: true, certificatePem: ca.certificatePem };
    const gates: (() => void)[] = [];
    // Both loads' snapshots were taken before the CA was deleted.
    const sources = {
      caCertificates: { listAll: async () => { await new Promise<void>((resolve) => gates.push(resolve)); return [record]; }, find: async () => undefined },
      managedCas: { listAll: async () => [], find: async () => undefined },
      agentCertificates: { listRevokedSerials: async () => [] },
    } as unknown as TrustSources;
    const index = new TrustIndex();
    const follower = followTrustIndex(index, sources);

    const first = follower.reload(new Date());
    const second = follower.reload(new Date());
    await follower.onEvent({ type: 'caCertificateDeleted', tenant, caCertificateId: record.id });
    gates[0]!();
    await first;
    assert.equal(index.isTrusted('ca-x'), true, 'the first snapshot is in; the deletion still waits for the second');
    gates[1]!();
    await second;
    assert.equal(index.isTrusted('ca-x'), false, 'the deletion wins over both snapshots');
  });

  it('a revocation from a node older than decision 0013 (no issuer, no serial number) is read back from the store and applied', async () => {
    const tenant = 'acme' as TenantId;
    const revoked = { id: 'cert-1', tenant, managedCaId: 'managed-1', serialNumber: '00ab', isRevoked: true };
    const sources = {
      caCertificates: { listAll: async () => [], find: async () => undefined },
      managedCas: { listAll: async () => [], find: async () => undefined },
      agentCertificates: { listRevokedSerials: async () => [], find: async (_tenant: TenantId, id: string) => (id === revoked.id ? revoked : undefined) },
    } as unknown as TrustSources;
    const index = new TrustIndex();
    const follower = followTrustIndex(index, sources);
    await follower.onEvent({ type: 'agentCertificateRevoked', tenant, agentCertificateId: 'cert-1' as AgentCertificateId, caCertificateId: '' as CaCertificateId, serialNumber: '' });
    assert.equal(index.isRevoked('managed-1', 'ab'), true);
    await follower.onEvent({ type: 'agentCertificateRevoked', tenant, agentCertificateId: 'unknown' as AgentCertificateId, caCertificateId: '' as CaCertificateId, serialNumber: '' });
    assert.equal(index.revokedCount, 1, 'an id the store does not know revokes nothing');
  });
});

describe('completeRevocation', () => {
  it('a revocation relayed by a node of the previous release (no issuer, no serial number) still closes the revoked certificate\'s live sessions', async () => {
    const tenant = 'acme' as TenantId;
    const ca = await createCa();
    const index = new TrustIndex();
    index.upsert({ id: 'ca-1' as CaCertificateId, tenant, isVerified: true, certificatePem: ca.certificatePem });
    index.revoke('ca-1', '0bad'); // what applyToTrustIndex read back from the store
    const live = (clientId: string, certificateSerialNumber: string, sessionTenant = tenant): LiveAgentSession =>
      ({ tenant: sessionTenant, agentId: clientId as AgentId, clientId, caCertificateId: 'ca-1' as CaCertificateId, certificateSerialNumber });
    const sessions = [live('acme_revoked', 'bad'), live('acme_other', 'beef'), live('other_revoked', 'bad', 'other' as TenantId)];
    const fromOldNode = { type: 'agentCertificateRevoked', tenant, agentCertificateId: 'cert-1' as AgentCertificateId, caCertificateId: '' as CaCertificateId, serialNumber: '' } as const;

    assert.deepEqual(completeRevocation(index, sessions, fromOldNode),
      [{ ...fromOldNode, caCertificateId: 'ca-1', serialNumber: 'bad' }], 'exactly the revoked certificate of that tenant');
    assert.deepEqual(completeRevocation(index, sessions, { ...fromOldNode, caCertificateId: 'ca-1' as CaCertificateId, serialNumber: 'bad' }), [],
      'a complete revocation closes by itself');
  });
});

describe('reloadTrustIndex', () => {
  it('reuses the certificates the index parsed for the same id and PEM, and parses a changed or new one (decision 0018)', async () => {
    const tenant = 'acme' as TenantId;
    const [kept, changed, added] = await Promise.all([createCa(), createCa(), createCa()]);
    const index = new TrustIndex();
    index.upsert({ id: 'ca-kept' as CaCertificateId, tenant, isVerified: true, certificatePem: kept.certificatePem });
    index.upsert({ id: 'ca-changed' as CaCertificateId, tenant, isVerified: true, certificatePem: kept.certificatePem });
    const before = index.parsedCertificate('ca-kept', kept.certificatePem);
    assert.ok(before);
    const sources = {
      caCertificates: {
        listAll: async () => [
          { id: 'ca-kept', tenant, isVerified: false, certificatePem: kept.certificatePem },
          { id: 'ca-changed', tenant, isVerified: true, certificatePem: changed.certificatePem },
          { id: 'ca-added', tenant, isVerified: true, certificatePem: added.certificatePem },
        ],
      },
      managedCas: { listAll: async () => [] },
      agentCertificates: { listRevokedSerials: async () => [] },
    } as unknown as TrustSources;
    await reloadTrustIndex(index, sources, new Date());
    assert.equal(index.parsedCertificate('ca-kept', kept.certificatePem), before, 'the same parsed certificate');
    assert.equal(index.isTrusted('ca-kept'), false, 'its record as the store has it now');
    assert.equal(index.parsedCertificate('ca-changed', kept.certificatePem), undefined);
    assert.equal(index.parsedCertificate('ca-changed', changed.certificatePem)?.pem, changed.certificatePem);
    assert.ok(index.isTrusted('ca-added'));
  });
});
