import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createCa, issueCertificate } from '../../test/support/test-pki.ts';
import { isDomainError, systemClock, type CaCertificateId, type TenantId } from '../shared/index.ts';
import { admitAgentCaughtUp, CATCH_UP_BOUND_MS } from './admit-agent-caught-up.ts';
import { InMemoryAgentStore } from './in-memory-agent-store.ts';
import { TrustIndex } from './trust-index.ts';
import { InMemoryAuditTrail } from './audit-trail.ts';

const tenant = 'acme' as TenantId;
const caId = 'ca-1' as CaCertificateId;
const SETTINGS = { maxCaCertificatesPerTenant: 2, clockSkewMs: 300_000 };

const codeOf = (promise: Promise<unknown>): Promise<string> => promise.then(
  () => assert.fail('admitted, but must be refused'),
  (error: unknown) => (isDomainError(error) ? error.code : assert.fail(`not a DomainError: ${String(error)}`)),
);

// Another node's API has just trusted the agent's CA; its event is on the way to this node. The
// fake bus's catchUp plays that event's arrival: it runs `arrives`, then answers `answer`.
describe('admitAgentCaughtUp: before refusing for an untrusted CA, catch up with the cluster', async () => {
  const ca = await createCa({ subject: 'CN=acme-ca' });
  const agent = await issueCertificate(ca, { subject: 'CN=pump-1' });
  const input = () => ({ certificateDer: agent.certificateDer, clientId: 'acme_pump-1', sessionId: randomUUID() });
  const world = (answer: boolean, arrives: (index: TrustIndex) => void = () => undefined) => {
    const trustIndex = new TrustIndex();
    const catchUps: number[] = [];
    const events = {
      publish: () => undefined,
      catchUp: async (boundMs: number) => { catchUps.push(boundMs); arrives(trustIndex); return answer; },
    };
    return { trustIndex, catchUps, dependencies: { agents: new InMemoryAgentStore(), clock: systemClock, settings: SETTINGS, trustIndex, events, audit: new InMemoryAuditTrail() } };
  };
  const verified = (index: TrustIndex) => index.upsert({ id: caId, tenant, isVerified: true, certificatePem: ca.certificatePem });

  it('an unknown CA whose verification arrives while catching up: admitted on the second ask', async () => {
    const { dependencies, catchUps } = world(true, verified);
    const { agent: admitted } = await admitAgentCaughtUp(dependencies, input());
    assert.equal(admitted.clientId, 'acme_pump-1');
    assert.deepEqual(catchUps, [CATCH_UP_BOUND_MS]);
    assert.equal(CATCH_UP_BOUND_MS, 1000);
  });

  it('an unverified CA verified meanwhile: admitted', async () => {
    const { dependencies, trustIndex } = world(true, verified);
    trustIndex.upsert({ id: caId, tenant, isVerified: false, certificatePem: ca.certificatePem });
    const { agent: admitted } = await admitAgentCaughtUp(dependencies, input());
    assert.equal(admitted.clientId, 'acme_pump-1');
  });

  it('caught up and still unknown: the refusal stands', async () => {
    const { dependencies, catchUps } = world(true);
    assert.equal(await codeOf(admitAgentCaughtUp(dependencies, input())), 'mqtt.unknownCa');
    assert.equal(catchUps.length, 1, 'asked once more, not again and again');
  });

  it('no catching up (a single node, or Redis away past the bound): refused without asking again', async () => {
    // The index changes during catchUp, but false means "nothing to ask again": the first answer stands.
    const { dependencies, catchUps } = world(false, verified);
    assert.equal(await codeOf(admitAgentCaughtUp(dependencies, input())), 'mqtt.unknownCa');
    assert.deepEqual(catchUps, [CATCH_UP_BOUND_MS]);
  });

  it('a refusal no other node can change (here an unreadable certificate) does not wait for the cluster', async () => {
    const { dependencies, catchUps } = world(true, verified);
    assert.equal(await codeOf(admitAgentCaughtUp(dependencies, { ...input(), certificateDer: Buffer.from('not a certificate') })), 'mqtt.certificateInvalid');
    assert.deepEqual(catchUps, []);
  });

  it('an admitted agent does not wait for the cluster either', async () => {
    const { dependencies, catchUps, trustIndex } = world(true);
    verified(trustIndex);
    await admitAgentCaughtUp(dependencies, input());
    assert.deepEqual(catchUps, []);
  });
});
