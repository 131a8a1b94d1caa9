import assert from 'node:assert/strict';
import { it } from 'node:test';
import pino from 'pino';
import type { WebhookEvent } from '../registry/index.ts';
import { startAgentCertificateExpiringEvents } from './agent-certificate-expiring-events.ts';

const DAY_MS = 86_400_000;

it('reads only subscribed tenants\' agents within 30 days, one event id per agent, certificate and day', async () => {
  const now = new Date('2027-01-01T06:00:00Z');
  const emitted: [WebhookEvent, string][] = [];
  const asked: unknown[] = [];
  const sink = {
    subscribedTenants: (type: string) => (type === 'certificate.expiring' ? ['acme'] : []),
    emitOnce: async (event: WebhookEvent, id: string) => { emitted.push([event, id]); },
  };
  const job = startAgentCertificateExpiringEvents({
    sink, logger: pino({ level: 'silent' }), now: () => now,
    list: async (tenants, from, to, limit) => {
      asked.push([tenants, to.getTime() - from.getTime(), limit]);
      return [{ tenant: 'acme', agentId: 'a1', clientId: 'acme_pump', notAfter: new Date(now.getTime() + 2.5 * DAY_MS) }];
    },
  });
  await job.settled();
  await job.close();
  assert.deepEqual(asked, [[['acme'], 30 * DAY_MS, 10_000]]);
  assert.equal(emitted.length, 1);
  const [event, id] = emitted[0]!;
  assert.deepEqual(event.data, { kind: 'agentCertificate', agentId: 'a1', clientId: 'acme_pump', notAfter: '2027-01-03T18:00:00.000Z', daysLeft: 2 });
  assert.match(id, /^[0-9a-f]{24}$/);

  // No subscriber: the agents are not read at all.
  let read = false;
  const idle = startAgentCertificateExpiringEvents({ sink: { ...sink, subscribedTenants: () => [] }, logger: pino({ level: 'silent' }), list: async () => { read = true; return []; } });
  await idle.settled();
  await idle.close();
  assert.equal(read, false);
});
