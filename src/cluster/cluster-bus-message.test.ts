import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RegistryEvent } from '../registry/index.ts';
import type { AgentCertificateId, AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import { decodeClusterBusMessage, encodeClusterBusMessage, MAX_CLUSTER_BUS_MESSAGE_CHARS } from './cluster-bus-message.ts';

const tenant = 'acme' as TenantId;
const caCertificateId = '0123456789abcdef01234567' as CaCertificateId;

const everyRegistryEvent: readonly RegistryEvent[] = [
  { type: 'caCertificateRegistered', tenant, caCertificateId },
  { type: 'caCertificateVerified', tenant, caCertificateId },
  { type: 'caCertificateDeleted', tenant, caCertificateId },
  { type: 'managedCaCreated', tenant, caCertificateId },
  { type: 'caRevocationsChanged', tenant, caCertificateId },
  { type: 'agentCertificateRevoked', tenant, agentCertificateId: 'fedcba9876543210fedcba98' as AgentCertificateId, caCertificateId, serialNumber: '7f3a09' },
  { type: 'agentDisabled', tenant, agentId: '00112233445566778899aabb' as AgentId, clientId: 'acme_sensor-1' },
  { type: 'agentDeleted', tenant, agentId: '00112233445566778899aabb' as AgentId, clientId: 'acme_sensor-1' },
];

const problemOf = (text: string): string => {
  const decoded = decodeClusterBusMessage(text);
  assert.equal(decoded.ok, false, `accepted: ${text.slice(0, 200)}`);
  return decoded.ok ? '' : decoded.problem;
};

const message = (event: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ v: 1, origin: 'node-a', event, ...extra });

describe('cluster bus message', () => {
  test('every registry event survives encode and decode unchanged', () => {
    for (const event of everyRegistryEvent) {
      const decoded = decodeClusterBusMessage(encodeClusterBusMessage('node-a', event));
      assert.deepEqual(decoded, { ok: true, origin: 'node-a', event });
    }
  });

  test('only the fields the event type declares are sent: a record an event object may hold at run time stays on this node', () => {
    const event = { type: 'caCertificateVerified', tenant, caCertificateId, record: { certificatePem: '-----BEGIN CERTIFICATE-----', registrationCode: 'secret' } };
    const text = encodeClusterBusMessage('node-a', event as RegistryEvent);
    assert.deepEqual(JSON.parse(text), { v: 1, origin: 'node-a', event: { type: 'caCertificateVerified', tenant, caCertificateId } });
  });

  test('a forged message carrying a record decodes to ids only: what other nodes apply is always read back from the store', () => {
    const forged = { type: 'caCertificateVerified', tenant, caCertificateId, record: { id: caCertificateId, tenant, isVerified: true, certificatePem: 'x' } };
    for (const extra of [{}, { stored: { kind: 'caCertificate', record: forged.record } }]) {
      const decoded = decodeClusterBusMessage(message(forged, extra));
      assert.deepEqual(decoded, { ok: true, origin: 'node-a', event: { type: 'caCertificateVerified', tenant, caCertificateId } });
    }
  });

  test('fields the event type does not declare are not passed on', () => {
    const decoded = decodeClusterBusMessage(
      `{"v":1,"origin":"node-a","event":{"type":"caCertificateDeleted","tenant":"acme","caCertificateId":"${caCertificateId}","isVerified":true,"__proto__":{"polluted":1}}}`,
    );
    assert.ok(decoded.ok);
    assert.deepEqual(Object.keys(decoded.event).sort(), ['caCertificateId', 'tenant', 'type']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('a revocation from a node older than decision 0013 (id and DER fingerprint only) decodes with issuer and serial empty, to be read back', () => {
    const decoded = decodeClusterBusMessage(message({ type: 'agentCertificateRevoked', tenant, agentCertificateId: 'fedcba9876543210fedcba98' as AgentCertificateId, fingerprintSha256: 'ab'.repeat(32) }));
    assert.deepEqual(decoded, {
      ok: true, origin: 'node-a',
      event: { type: 'agentCertificateRevoked', tenant, agentCertificateId: 'fedcba9876543210fedcba98' as AgentCertificateId, caCertificateId: '', serialNumber: '' },
    });
  });

  const refusals: [string, string, RegExp][] = [
    ['not JSON', 'hello', /not JSON/],
    ['truncated JSON', message(everyRegistryEvent[0]).slice(0, 30), /not JSON/],
    ['JSON null', 'null', /not a JSON object/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['a JSON string', '"caCertificateDeleted"', /not a JSON object/],
    ['no version', JSON.stringify({ origin: 'node-a', event: everyRegistryEvent[0] }), /unsupported version/],
    ['version 2', JSON.stringify({ v: 2, origin: 'node-a', event: everyRegistryEvent[0] }), /unsupported version 2/],
    ['version as a string', JSON.stringify({ v: '1', origin: 'node-a', event: everyRegistryEvent[0] }), /unsupported version/],
    ['no origin', JSON.stringify({ v: 1, event: everyRegistryEvent[0] }), /origin/],
    ['an empty origin', JSON.stringify({ v: 1, origin: '', event: everyRegistryEvent[0] }), /origin/],
    ['a numeric origin', JSON.stringify({ v: 1, origin: 7, event: everyRegistryEvent[0] }), /origin/],
    ['a 300-character origin', JSON.stringify({ v: 1, origin: 'n'.repeat(300), event: everyRegistryEvent[0] }), /origin/],
    ['no event', JSON.stringify({ v: 1, origin: 'node-a' }), /event is not an object/],
    ['an event array', message([everyRegistryEvent[0]]), /event is not an object/],
    ['an unknown event type', message({ type: 'tenantDeleted', tenant }), /unknown event type "tenantDeleted"/],
    ['an inherited property as type', message({ type: 'constructor', tenant, caCertificateId }), /unknown event type/],
    ['__proto__ as type', message({ type: '__proto__', tenant, caCertificateId }), /unknown event type/],
    ['a numeric type', message({ type: 3, tenant, caCertificateId }), /unknown event type/],
    ['no tenant', message({ type: 'caCertificateDeleted', caCertificateId }), /tenant/],
    ['a numeric tenant', message({ type: 'caCertificateDeleted', tenant: 5, caCertificateId }), /tenant/],
    ['a tenant with an underscore', message({ type: 'caCertificateDeleted', tenant: 'a_b', caCertificateId }), /tenant/],
    ['a tenant with a topic separator', message({ type: 'caCertificateDeleted', tenant: 'a/#', caCertificateId }), /tenant/],
    ['a missing field', message({ type: 'agentDisabled', tenant, agentId: 'x' }), /clientId/],
    ['a numeric field', message({ type: 'caCertificateDeleted', tenant, caCertificateId: 12 }), /caCertificateId/],
    ['an object field', message({ type: 'agentCertificateRevoked', tenant, agentCertificateId: 'x', caCertificateId, serialNumber: { $ne: '' } }), /serialNumber/],
    ['a revocation with a CA but no serial number', message({ type: 'agentCertificateRevoked', tenant, agentCertificateId: 'x', caCertificateId }), /serialNumber/],
    ['a 600-character field', message({ type: 'agentDeleted', tenant, agentId: 'a'.repeat(600), clientId: 'c' }), /agentId/],
    ['a message over the size bound', message(everyRegistryEvent[0], { padding: 'x'.repeat(MAX_CLUSTER_BUS_MESSAGE_CHARS) }), /longer than/],
    ['a megabyte of nesting', '['.repeat(1_000_000), /longer than/],
  ];
  for (const [what, text, expected] of refusals) {
    test(`drops ${what}`, () => assert.match(problemOf(text), expected));
  }
});
