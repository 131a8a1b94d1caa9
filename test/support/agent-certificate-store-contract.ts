import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentCertificateStore, ManagedCaRecord, ManagedCaStore, NewAgentCertificateRecord } from '../../src/registry/index.ts';
import { newResourceId, type AgentCertificateId, type CaCertificateId, type TenantId } from '../../src/shared/index.ts';

export interface ManagedCaStoreFixture {
  readonly managedCas: ManagedCaStore;
  close(): Promise<void>;
}

export interface AgentCertificateStoreFixture {
  readonly agentCertificates: AgentCertificateStore;
  close(): Promise<void>;
}

const acme = 'acme' as TenantId;
const other = 'other' as TenantId;
let serial = 0;

const newManagedCa = (overrides: Partial<ManagedCaRecord> = {}): ManagedCaRecord => {
  serial += 1;
  return {
    id: newResourceId() as CaCertificateId,
    tenant: acme,
    certificatePem: `-----BEGIN CERTIFICATE-----\nmanaged ${serial}\n-----END CERTIFICATE-----\n`,
    privateKeyPem: `-----BEGIN PRIVATE KEY-----\nkey ${serial}\n-----END PRIVATE KEY-----\n`,
    subject: `O=trustgate managed agent CA\nCN=acme`,
    fingerprintSha256: serial.toString(16).padStart(64, 'c'),
    publicKeySha256: serial.toString(16).padStart(64, 'b'),
    notBefore: new Date('2026-01-01T00:00:00.000Z'),
    notAfter: new Date('2036-01-01T00:00:00.456Z'),
    createdAt: new Date(Date.UTC(2026, 10, 27, 0, 0, serial)),
    ...overrides,
  };
};

const newAgentCertificate = (overrides: Partial<NewAgentCertificateRecord> = {}): NewAgentCertificateRecord => {
  serial += 1;
  const tenant = overrides.tenant ?? acme;
  const name = overrides.name ?? `pump-${serial}`;
  return {
    id: newResourceId() as AgentCertificateId,
    tenant,
    name,
    owner: undefined,
    clientId: `${tenant}_${name}`,
    managedCaId: 'a'.repeat(24) as CaCertificateId,
    certificatePem: `-----BEGIN CERTIFICATE-----\nagent ${serial}\n-----END CERTIFICATE-----\n`,
    fingerprintSha256: serial.toString(16).padStart(64, 'f'),
    serialNumber: serial.toString(16).padStart(32, '0'),
    keySource: 'generated',
    notBefore: new Date('2026-01-01T00:00:00.000Z'),
    notAfter: new Date('2027-01-01T00:00:00.789Z'),
    createdAt: new Date(Date.UTC(2026, 10, 27, 0, 0, serial)),
    ...overrides,
  };
};

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
};

const withoutKey = ({ privateKeyPem: _privateKeyPem, ...certificate }: ManagedCaRecord) => certificate;

// The behaviour every ManagedCaStore must have, run against each implementation and dialect.
export const managedCaStoreContract = (name: string, open: () => Promise<ManagedCaStoreFixture>): void => {
  describe(`ManagedCaStore contract: ${name}`, () => {
    let fixture: ManagedCaStoreFixture;
    beforeEach(async () => { fixture = await open(); });
    afterEach(async () => { await fixture.close(); });

    it('round-trips every field; find and listAll never carry the private key, findForSigning does', async () => {
      const record = newManagedCa();
      assert.deepEqual(await fixture.managedCas.insertIfAbsent(record), record);
      assert.deepEqual(await fixture.managedCas.findForSigning(acme), record);
      assert.deepEqual(await fixture.managedCas.find(acme), withoutKey(record));
      assert.deepEqual(await fixture.managedCas.listAll(), [withoutKey(record)]);
    });

    it('keeps one CA per tenant: a second insert answers the first one; another tenant gets its own', async () => {
      const first = newManagedCa();
      await fixture.managedCas.insertIfAbsent(first);
      assert.deepEqual(await fixture.managedCas.insertIfAbsent(newManagedCa()), first);
      const theirs = newManagedCa({ tenant: other });
      assert.deepEqual(await fixture.managedCas.insertIfAbsent(theirs), theirs);
      assert.equal(await fixture.managedCas.find('nobody' as TenantId), undefined);
      assert.deepEqual((await fixture.managedCas.listAll()).map((ca) => ca.id).sort(), [first.id, theirs.id].sort());
    });

    it('finds a managed CA by its public key, whatever the tenant', async () => {
      const mine = newManagedCa();
      const theirs = newManagedCa({ tenant: other });
      await fixture.managedCas.insertIfAbsent(mine);
      await fixture.managedCas.insertIfAbsent(theirs);
      assert.equal((await fixture.managedCas.findByPublicKey(theirs.publicKeySha256))?.id, theirs.id);
      assert.equal((await fixture.managedCas.findByPublicKey(mine.publicKeySha256))?.tenant, acme);
      assert.equal(await fixture.managedCas.findByPublicKey('0'.repeat(64)), undefined);
    });

    it('of 20 concurrent first inserts exactly one wins, and every caller gets the winner', async () => {
      const candidates = Array.from({ length: 20 }, () => newManagedCa());
      const answers = await Promise.all(candidates.map((candidate) => fixture.managedCas.insertIfAbsent(candidate)));
      const winner = answers[0]!;
      assert.ok(candidates.some((candidate) => candidate.id === winner.id));
      for (const answer of answers) assert.deepEqual(answer, winner);
      assert.deepEqual(await fixture.managedCas.findForSigning(acme), winner);
      assert.equal((await fixture.managedCas.listAll()).length, 1);
    });
  });
};

// The behaviour every AgentCertificateStore must have, run against each implementation and dialect.
export const agentCertificateStoreContract = (name: string, open: () => Promise<AgentCertificateStoreFixture>): void => {
  describe(`AgentCertificateStore contract: ${name}`, () => {
    let fixture: AgentCertificateStoreFixture;
    beforeEach(async () => { fixture = await open(); });
    afterEach(async () => { await fixture.close(); });

    it('round-trips every field of a record, active; an absent owner stays absent', async () => {
      const record = newAgentCertificate({ owner: 'plant ops', keySource: 'csr' });
      const stored = await fixture.agentCertificates.insert(record);
      assert.deepEqual(stored, { ...record, isRevoked: false, revokedAt: undefined });
      assert.deepEqual(await fixture.agentCertificates.find(acme, record.id), stored);
      assert.deepEqual(await fixture.agentCertificates.findActiveByName(acme, record.name), stored);
      assert.deepEqual(await fixture.agentCertificates.list(acme), [stored]);
      const ownerless = await fixture.agentCertificates.insert(newAgentCertificate());
      assert.equal(ownerless.owner, undefined);
      assert.equal((await fixture.agentCertificates.find(acme, ownerless.id))?.owner, undefined);
    });

    it('keeps tenants apart: find, findActiveByName, list and revoke never cross them', async () => {
      const record = await fixture.agentCertificates.insert(newAgentCertificate());
      assert.equal(await fixture.agentCertificates.find(other, record.id), undefined);
      assert.equal(await fixture.agentCertificates.findActiveByName(other, record.name), undefined);
      assert.deepEqual(await fixture.agentCertificates.list(other), []);
      assert.equal(await fixture.agentCertificates.revoke(other, record.id, new Date()), undefined);
      assert.equal((await fixture.agentCertificates.find(acme, record.id))?.isRevoked, false);
    });

    it('refuses a second active certificate with the same name in the tenant; another tenant may use the name', async () => {
      const record = await fixture.agentCertificates.insert(newAgentCertificate({ name: 'pump-x' }));
      assert.equal(await codeOf(fixture.agentCertificates.insert(newAgentCertificate({ name: 'pump-x' }))), 'agentCertificate.duplicate');
      assert.equal(await codeOf(fixture.agentCertificates.insert(newAgentCertificate({ name: 'pump-x', tenant: other }))), 'ok');
      assert.deepEqual((await fixture.agentCertificates.list(acme)).map((r) => r.id), [record.id]);
    });

    it('names with NUL and U+FFFF round-trip and stay distinct (PostgreSQL cannot store NUL: the adapter escapes it)', async () => {
      const names = ['n\u0000', 'n\uFFFF0', 'n\uFFFF', 'n\uFFFF\uFFFF', 'n'];
      const records = [];
      for (const name of names) records.push(await fixture.agentCertificates.insert(newAgentCertificate({ name })));
      for (const [i, name] of names.entries()) assert.deepEqual(await fixture.agentCertificates.findActiveByName(acme, name), records[i], JSON.stringify(name));
    });

    it('enforces one active certificate per name under 20 concurrent inserts', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => codeOf(fixture.agentCertificates.insert(newAgentCertificate({ name: 'racer' })))));
      assert.equal(results.filter((r) => r === 'ok').length, 1);
      assert.equal(results.filter((r) => r === 'agentCertificate.duplicate').length, 19);
    });

    it('revokes once: revokedAt stays the first one; the name is free again, the revoked record stays', async () => {
      const record = await fixture.agentCertificates.insert(newAgentCertificate({ name: 'pump-r' }));
      const at = new Date('2026-11-27T10:00:00.000Z');
      const revoked = await fixture.agentCertificates.revoke(acme, record.id, at);
      assert.deepEqual(revoked, { ...record, isRevoked: true, revokedAt: at });
      assert.deepEqual(await fixture.agentCertificates.revoke(acme, record.id, new Date('2026-11-28T00:00:00.000Z')), revoked);
      assert.deepEqual(await fixture.agentCertificates.find(acme, record.id), revoked);
      assert.equal(await fixture.agentCertificates.findActiveByName(acme, 'pump-r'), undefined);
      const reissued = await fixture.agentCertificates.insert(newAgentCertificate({ name: 'pump-r' }));
      assert.deepEqual((await fixture.agentCertificates.findActiveByName(acme, 'pump-r'))?.id, reissued.id);
      assert.deepEqual((await fixture.agentCertificates.list(acme)).map((r) => [r.id, r.isRevoked]), [[record.id, true], [reissued.id, false]]);
      assert.equal(await fixture.agentCertificates.revoke(acme, newResourceId() as AgentCertificateId, at), undefined);
    });

    it('lists the issuer and serial number of every tenant\'s revoked certificates still valid at `now`', async () => {
      const now = new Date('2026-12-01T00:00:00.000Z');
      const mine = await fixture.agentCertificates.insert(newAgentCertificate());
      const theirs = await fixture.agentCertificates.insert(newAgentCertificate({ tenant: other }));
      const expired = await fixture.agentCertificates.insert(newAgentCertificate({ notAfter: new Date('2026-11-30T23:59:59.999Z') }));
      await fixture.agentCertificates.insert(newAgentCertificate()); // active: not listed
      for (const record of [mine, theirs, expired]) await fixture.agentCertificates.revoke(record.tenant, record.id, now);
      const listed = (await fixture.agentCertificates.listRevokedSerials(now)).map((r) => `${r.caCertificateId}/${r.serialNumber}`).sort();
      assert.deepEqual(listed, [mine, theirs].map((r) => `${r.managedCaId}/${r.serialNumber}`).sort());
    });

    it('a revoked certificate in its last instant (notAfter = now) is still listed: admission accepts it until then, inclusive', async () => {
      // RFC 5280 §4.1.2.5: the validity period includes notAfter (src/pki/validity.ts), so a
      // revocation left out of the index at that instant would admit the revoked certificate.
      const now = new Date('2026-12-01T00:00:00.000Z');
      const lastInstant = await fixture.agentCertificates.insert(newAgentCertificate({ notAfter: now }));
      await fixture.agentCertificates.revoke(lastInstant.tenant, lastInstant.id, now);
      const listed = (await fixture.agentCertificates.listRevokedSerials(now)).map((r) => `${r.caCertificateId}/${r.serialNumber}`);
      assert.deepEqual(listed, [`${lastInstant.managedCaId}/${lastInstant.serialNumber}`]);
    });

    it('lists in issue order', async () => {
      const first = newAgentCertificate({ createdAt: new Date('2026-01-01T00:00:00.000Z') });
      const second = newAgentCertificate({ createdAt: new Date('2026-01-02T00:00:00.000Z') });
      await fixture.agentCertificates.insert(second);
      await fixture.agentCertificates.insert(first);
      assert.deepEqual((await fixture.agentCertificates.list(acme)).map((r) => r.id), [first.id, second.id]);
    });

    it('a renewal retires the name\'s active certificate without revoking it, and counts once per client id and hour, also under concurrent calls', async () => {
      const store = fixture.agentCertificates;
      const original = await store.insert(newAgentCertificate({ name: 'renewed-1' }));
      assert.equal(await store.lastRenewalAt(acme, original.clientId), undefined);
      const at = new Date('2026-12-02T10:00:00.000Z');
      const hourBefore = (date: Date) => new Date(date.getTime() - 3_600_000);
      const renewal = newAgentCertificate({ name: 'renewed-1', createdAt: at });
      const answer = await store.insertRenewal(renewal, hourBefore(at));
      assert.ok('renewed' in answer);
      assert.equal(answer.renewed.id, renewal.id);
      assert.equal((await store.findActiveByName(acme, 'renewed-1'))?.id, renewal.id);
      assert.equal((await store.find(acme, original.id))?.isRevoked, false, 'the old one is retired, not revoked');
      assert.deepEqual(await store.listRevokedSerials(at), []);
      assert.deepEqual(await store.lastRenewalAt(acme, original.clientId), at);

      // Within the hour: nothing changes, whoever asks, however many at once.
      const soon = new Date(at.getTime() + 60_000);
      const refusals = await Promise.all(Array.from({ length: 4 }, () => store.insertRenewal(newAgentCertificate({ name: 'renewed-1', createdAt: soon }), hourBefore(soon))));
      assert.deepEqual(refusals, Array.from({ length: 4 }, () => ({ lastRenewalAt: at })));
      assert.equal((await store.list(acme)).filter((r) => r.name === 'renewed-1').length, 2);

      // After it: of concurrent renewals exactly one wins.
      const later = new Date(at.getTime() + 3_600_000);
      const answers = await Promise.all(Array.from({ length: 4 }, () => store.insertRenewal(newAgentCertificate({ name: 'renewed-1', createdAt: later }), hourBefore(later))));
      assert.equal(answers.filter((a) => 'renewed' in a).length, 1);
      assert.equal((await store.list(acme)).filter((r) => r.name === 'renewed-1').length, 3);
      assert.deepEqual(await store.lastRenewalAt(acme, original.clientId), later);
      // Per client id and tenant.
      assert.equal(await store.lastRenewalAt(other, original.clientId), undefined);
      assert.ok('renewed' in await store.insertRenewal(newAgentCertificate({ tenant: other, name: 'renewed-1', createdAt: soon }), hourBefore(soon)));
    });
  });
};
