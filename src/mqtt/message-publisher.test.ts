import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import { PUBLISHER_PROPERTY, stampedPublisherOf, stampPublisher, wasAcceptedFrom } from './message-publisher.ts';

// A publisher stamped on this node is checked field by field once, when its stamp is made (issue
// 18: not at every delivery); its topic is still checked at every delivery, and anything else
// that looks like a stamp is checked in full every time.

const agent = (tenant: string, clientId: string): BrokerPrincipal => ({
  kind: 'agent', tenant: tenant as TenantId, clientId, agentId: 'a'.repeat(24) as AgentId, caCertificateId: 'c'.repeat(24) as CaCertificateId,
  certificateSerialNumber: '1f', sessionId: 's',
});

test('a message stamped here is accepted only on its publisher\'s own topics, at every check', () => {
  const pump = agent('acme', 'acme_pump-1');
  const own = { topic: 'tc/acme/acme_pump-1/o/data' };
  stampPublisher(own, pump);
  assert.equal(wasAcceptedFrom(own), true);
  assert.equal(wasAcceptedFrom(own), true);
  // The same (shared, frozen) stamp carried by a message on another agent's topic.
  const moved = { topic: 'tc/acme/acme_pump-2/i/cmd', properties: (own as { properties?: unknown }).properties };
  assert.equal(wasAcceptedFrom(moved), false);
  const inbound = { topic: 'tc/acme/acme_pump-1/i/cmd' };
  stampPublisher(inbound, pump);
  assert.equal(wasAcceptedFrom(inbound), false, 'an agent never publishes on its own i/');
});

test('the stamp made here cannot be changed afterwards', () => {
  const packet = { topic: 'tc/acme/acme_pump-1/o/data' };
  stampPublisher(packet, agent('acme', 'acme_pump-1'));
  const publisher = stampedPublisherOf(packet) as { clientId: string };
  assert.throws(() => { publisher.clientId = 'acme_pump-2'; }, TypeError);
  assert.throws(() => { (packet as unknown as { properties: Record<string, unknown> }).properties[PUBLISHER_PROPERTY] = {}; }, TypeError);
});

test('a stamp that was not made here (read back from Redis, or forged) is checked in full every time', () => {
  const lookAlike = { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' };
  const packet = { topic: 'tc/acme/acme_pump-1/o/data', properties: { [PUBLISHER_PROPERTY]: lookAlike } };
  assert.equal(wasAcceptedFrom(packet), true);
  lookAlike.tenant = 'ACME';
  assert.equal(stampedPublisherOf(packet), undefined, 'not a tenant id: no stamp at all');
  assert.equal(wasAcceptedFrom(packet), false);
  for (const forged of [null, 'x', { kind: 'agent', tenant: 'acme' }, { kind: 'application', tenant: 'acme', clientId: 'acme_app' }, { kind: 'admin', tenant: 'acme', clientId: 'acme_x' }]) {
    const carrier = { topic: 'tc/acme/acme_pump-1/i/cmd', properties: { [PUBLISHER_PROPERTY]: forged } };
    assert.equal(wasAcceptedFrom(carrier), false, JSON.stringify(forged));
  }
  const unstamped = { topic: 'tc/acme/acme_pump-1/o/data' };
  assert.equal(wasAcceptedFrom(unstamped), false);
});

test('a principal whose identity is not well formed gets a stamp that allows nothing', () => {
  const packet = { topic: 'tc/acme/acme_x/i/y/o/cmd' };
  stampPublisher(packet, agent('acme', 'acme_x/i/y'));
  assert.equal(wasAcceptedFrom(packet), false);
  const badTenant = { topic: 'tc/ACME/ACME_p/o/data' };
  stampPublisher(badTenant, agent('ACME', 'ACME_p'));
  assert.equal(stampedPublisherOf(badTenant), undefined);
  assert.equal(wasAcceptedFrom(badTenant), false);
});
