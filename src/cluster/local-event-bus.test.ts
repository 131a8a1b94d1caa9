import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CaCertificateRecord, RegistryEvent, StoredRecord } from '../registry/index.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import { LocalEventBus } from './local-event-bus.ts';

const event: RegistryEvent = { type: 'caCertificateVerified', tenant: 'acme' as TenantId, caCertificateId: '0123456789abcdef01234567' as CaCertificateId };
const stored = { kind: 'caCertificate', record: { id: event.caCertificateId } as CaCertificateRecord } as StoredRecord;

describe('LocalEventBus', () => {
  test('delivers the event and the stored record to every listener in order; a failing listener is reported and the rest still run', async () => {
    const errors: unknown[] = [];
    const bus = new LocalEventBus((error) => errors.push(error));
    const heard: string[] = [];
    bus.subscribe(() => { heard.push('first'); throw new Error('boom'); });
    bus.subscribe((received, record) => { heard.push('second'); assert.equal(received, event); assert.equal(record, stored); });
    await bus.publish(event, stored);
    assert.deepEqual(heard, ['first', 'second']);
    assert.equal(errors.length, 1);
  });

  test('a single node: nothing to start, catch up with, resync from or report to /readyz', async () => {
    const bus = new LocalEventBus(() => assert.fail('no listener failed'));
    let resyncs = 0;
    bus.onResync(() => { resyncs += 1; });
    await bus.start();
    assert.equal(await bus.catchUp(1000), false, 'asking the trust index again would give the same answer');
    assert.equal(bus.readiness(), undefined);
    await bus.close();
    assert.equal(resyncs, 0);
  });
});
