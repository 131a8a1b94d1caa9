import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'aedes';
import type { AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import { SessionRegistry } from './session-registry.ts';

const fakeClient = () => {
  const client = { closeCalls: 0, close() { this.closeCalls += 1; } };
  return client as unknown as Client & { closeCalls: number };
};
const agent = (agentId: string, caCertificateId = 'ca-1'): BrokerPrincipal =>
  ({ kind: 'agent', tenant: 'acme' as TenantId, clientId: `acme_${agentId}`, agentId: agentId as AgentId, caCertificateId: caCertificateId as CaCertificateId, certificateSerialNumber: `5e${agentId}`, sessionId: 's' });

describe('SessionRegistry', () => {
  it('closes only the sessions a withdrawal matches', () => {
    const sessions = new SessionRegistry();
    const [a, b] = [fakeClient(), fakeClient()];
    assert.equal(sessions.attach(a, agent('a'), sessions.epoch), true);
    assert.equal(sessions.attach(b, agent('b', 'ca-2'), sessions.epoch), true);
    assert.equal(sessions.closeWhere((p) => p.kind === 'agent' && p.caCertificateId === 'ca-1').length, 1);
    assert.deepEqual([a.closeCalls, b.closeCalls], [1, 0]);
    assert.equal(sessions.size, 1);
  });

  it('refuses to attach an admission that a withdrawal overtook, and only that one', () => {
    const sessions = new SessionRegistry();
    const epoch = sessions.epoch; // admission of agent "a" begins
    sessions.closeWhere((p) => p.kind === 'agent' && p.agentId === 'a'); // agent a disabled meanwhile
    assert.equal(sessions.attach(fakeClient(), agent('a'), epoch), false);
    assert.equal(sessions.attach(fakeClient(), agent('b'), epoch), true);
    // A withdrawal from before the admission began does not count.
    assert.equal(sessions.attach(fakeClient(), agent('a'), sessions.epoch), true);
  });

  it('refuses, to be safe, when more withdrawals happened than it keeps', () => {
    const sessions = new SessionRegistry();
    const epoch = sessions.epoch;
    for (let i = 0; i < 1100; i++) sessions.closeWhere(() => false);
    assert.equal(sessions.attach(fakeClient(), agent('a'), epoch), false);
  });
});
