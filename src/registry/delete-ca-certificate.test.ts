import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCa } from '../../test/support/test-pki.ts';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import type { TenantId } from '../shared/index.ts';

const acme = 'acme' as TenantId;
const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string }) => error.code);

describe('deleteCaCertificate', () => {
  it('publishes caCertificateDeleted and frees the slot; a foreign tenant gets notFound and changes nothing', async () => {
    const { registry, events } = registryFixture({ maxCaCertificatesPerTenant: 1 });
    const record = await registry.registerCaCertificate({ tenant: acme, name: 'ca', caCertificatePem: (await createCa()).certificatePem });
    assert.equal(await codeOf(registry.deleteCaCertificate('other' as TenantId, record.id)), 'caCertificate.notFound');
    assert.equal((await registry.listCaCertificates(acme)).length, 1);
    await registry.deleteCaCertificate(acme, record.id);
    assert.deepEqual(events.filter((e) => e.type !== 'caCertificateRegistered'), [{ type: 'caCertificateDeleted', tenant: acme, caCertificateId: record.id }]);
    assert.equal(await codeOf(registry.registerCaCertificate({ tenant: acme, name: 'next', caCertificatePem: (await createCa()).certificatePem })), 'ok');
  });
});
