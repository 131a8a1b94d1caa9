import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCa } from '../../test/support/test-pki.ts';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import type { TenantId } from '../shared/index.ts';

const acme = 'acme' as TenantId;
const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string }) => error.code);

describe('registerCaCertificate', () => {
  it('reports every lint finding in details and stores nothing', async () => {
    const { registry } = registryFixture();
    const bad = await createCa({ version: 1, hash: 'SHA-1', keyType: 'rsa1024' });
    await assert.rejects(registry.registerCaCertificate({ tenant: acme, name: 'bad', caCertificatePem: bad.certificatePem }), (error: any) => {
      assert.equal(error.code, 'caCertificate.notV3');
      assert.deepEqual(error.details.map((f: { code: string }) => f.code),
        ['caCertificate.notV3', 'caCertificate.notCa', 'caCertificate.weakKey', 'caCertificate.weakSignature']);
      return true;
    });
    assert.deepEqual(await registry.listCaCertificates(acme), []);
  });
});

describe('registerCaCertificate events', () => {
  it('announces the new CA certificate (the trust index learns it, unverified)', async () => {
    const { registry, events } = registryFixture();
    const record = await registry.registerCaCertificate({ tenant: acme, name: 'ca', caCertificatePem: (await createCa()).certificatePem });
    assert.deepEqual(events, [{ type: 'caCertificateRegistered', tenant: acme, caCertificateId: record.id }]);
  });
});
