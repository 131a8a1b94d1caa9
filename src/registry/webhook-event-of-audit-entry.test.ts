import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { TenantId } from '../shared/index.ts';
import type { AuditEntry } from './audit-trail.ts';
import { webhookEventOfAuditEntry } from './webhook-event-of-audit-entry.ts';

// Which audit entries are webhook events, and the `data` each carries (ids and states only).

const entry = (action: AuditEntry['action'], target: string, extra: Partial<AuditEntry> = {}): AuditEntry => ({
  time: new Date('2026-12-03T00:00:00Z'), tenant: 'acme' as TenantId, actor: { type: 'token', id: 'ops' }, action, target, outcome: 'success', ...extra,
});
const eventOf = (...args: Parameters<typeof entry>) => {
  const event = webhookEventOfAuditEntry(entry(...args));
  return event && { type: event.type, data: event.data };
};

it('maps successful changes to their events, and nothing else', () => {
  assert.deepEqual(eventOf('agent.onboarded', 'agent:acme_pump', { reason: 'caCertificate:c1' }), { type: 'agent.onboarded', data: { clientId: 'acme_pump', caCertificateId: 'c1' } });
  assert.deepEqual(eventOf('agent.disabled', 'agent:acme_pump'), { type: 'agent.disabled', data: { clientId: 'acme_pump', enabled: false } });
  assert.deepEqual(eventOf('agent.deleted', 'agent:acme_pump'), { type: 'agent.deleted', data: { clientId: 'acme_pump' } });
  assert.deepEqual(eventOf('caCertificate.verified', 'caCertificate:c1'), { type: 'caCertificate.verified', data: { caCertificateId: 'c1' } });
  assert.deepEqual(eventOf('caCertificate.deleted', 'caCertificate:c1'), { type: 'caCertificate.deleted', data: { caCertificateId: 'c1' } });
  assert.deepEqual(eventOf('certificate.revoked', 'certificate:c1/0a1b', { reason: 'keyCompromise' }),
    { type: 'certificate.revoked', data: { caCertificateId: 'c1', serialNumber: '0a1b', reason: 'keyCompromise' } });
  assert.deepEqual(eventOf('agentCertificate.revoked', 'agentCertificate:a1'), { type: 'certificate.revoked', data: { agentCertificateId: 'a1', reason: null } });
  assert.equal(eventOf('caCertificate.verified', 'caCertificate:c1', { outcome: 'failure' }), undefined);
  assert.equal(eventOf('caCertificate.verified', 'caCertificate:c1', { tenant: undefined }), undefined);
  for (const action of ['caCertificate.uploaded', 'agent.enabled', 'session.closed', 'mqtt.connectRefused', 'webhook.created'] as const) {
    assert.equal(eventOf(action, 'x:y'), undefined, action);
  }
});
