import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { CaCertificateStore, NewCaCertificateRecord } from '../../src/registry/index.ts';
import { newResourceId, type CaCertificateId, type TenantId } from '../../src/shared/index.ts';

export interface StoreFixture {
  readonly store: CaCertificateStore;
  /**
   * Another node's store on the same database, with connections of its own (PostgreSQL); the
   * concurrency tests spread their calls over both. Absent: they all go to `store`.
   */
  readonly peer?: CaCertificateStore;
  close(): Promise<void>;
}

const acme = 'acme' as TenantId;
const other = 'other' as TenantId;
let serial = 0;

const newRecord = (overrides: Partial<NewCaCertificateRecord> = {}): NewCaCertificateRecord => {
  serial += 1;
  return {
    id: newResourceId() as CaCertificateId,
    tenant: acme,
    name: `ca ${serial}`,
    description: undefined,
    certificatePem: `-----BEGIN CERTIFICATE-----\n${serial}\n-----END CERTIFICATE-----\n`,
    subject: `CN=ca ${serial}`,
    commonName: `ca ${serial}`,
    fingerprintSha256: serial.toString(16).padStart(64, 'f'),
    tbsCertificateSha256: serial.toString(16).padStart(64, 't'),
    publicKeySha256: serial.toString(16).padStart(64, 'k'),
    subjectKeyId: undefined,
    notBefore: new Date('2026-01-01T00:00:00.000Z'),
    notAfter: new Date('2031-01-01T00:00:00.123Z'),
    registrationCode: `code${serial}`.padEnd(40, '0'),
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

// The behaviour every CaCertificateStore must have, run against each implementation and dialect.
export const caCertificateStoreContract = (name: string, open: () => Promise<StoreFixture>): void => {
  describe(`CaCertificateStore contract: ${name}`, () => {
    let fixture: StoreFixture;
    beforeEach(async () => { fixture = await open(); });
    afterEach(async () => { await fixture.close(); });

    it('round-trips every field of a record, unverified', async () => {
      const record = newRecord({ description: 'the plant CA', subjectKeyId: 'abcd' });
      const stored = await fixture.store.insert(record, 2);
      assert.deepEqual(stored, { ...record, isVerified: false, verifiedAt: undefined });
      assert.deepEqual(await fixture.store.find(acme, record.id), stored);
      assert.deepEqual(await fixture.store.list(acme), [stored]);
    });

    it('round-trips text exactly, with NUL and U+FFFF too (PostgreSQL cannot store NUL: the adapter escapes it)', async () => {
      const record = newRecord({ name: 'a\u0000b \uFFFF0 😀', description: '\uFFFF\u0000\uFFFF\uFFFF0', subject: 'CN=x\u0000y', commonName: 'x\u0000y' });
      const stored = await fixture.store.insert(record, 2);
      assert.deepEqual(stored, { ...record, isVerified: false, verifiedAt: undefined });
      assert.deepEqual(await fixture.store.find(acme, record.id), stored);
      assert.equal(await fixture.store.find(acme, `${record.id}\u0000` as CaCertificateId), undefined);
    });

    it('keeps tenants apart: find, list, remove and markVerified never cross them', async () => {
      const record = newRecord();
      await fixture.store.insert(record, 2);
      assert.equal(await fixture.store.find(other, record.id), undefined);
      assert.deepEqual(await fixture.store.list(other), []);
      assert.equal(await fixture.store.remove(other, record.id), undefined);
      assert.equal(await fixture.store.markVerified(other, record.id, new Date()), undefined);
      assert.equal((await fixture.store.find(acme, record.id))?.isVerified, false);
    });

    // Round-robin over the nodes there are.
    const node = (i: number): CaCertificateStore => (i % 2 === 1 && fixture.peer) || fixture.store;

    it('refuses a duplicate in the tenant, allows the same certificate in another tenant', async () => {
      const record = newRecord();
      await fixture.store.insert(record, 2);
      assert.equal(await codeOf(fixture.store.insert({ ...record, id: newResourceId() as CaCertificateId }, 2)), 'caCertificate.duplicate');
      assert.equal(await codeOf(fixture.store.insert({ ...record, id: newResourceId() as CaCertificateId, tenant: other }, 2)), 'ok');
    });

    // Issue 10, finding 1: the DER fingerprint changes when the signature is re-encoded ((r, s) as
    // (r, n - s)); the signed part does not. Same signed part = same certificate.
    it('refuses the same signed part under another DER fingerprint (a re-encoded signature) as a duplicate, also when inserted concurrently', async () => {
      const record = newRecord();
      await fixture.store.insert(record, 5);
      const twin = { ...record, id: newResourceId() as CaCertificateId, fingerprintSha256: 'e'.repeat(64) };
      assert.equal(await codeOf(fixture.store.insert(twin, 5)), 'caCertificate.duplicate');
      const fresh = newRecord();
      const outcomes = await Promise.all([0, 1, 2, 3].map((i) => codeOf(node(i).insert({ ...fresh, id: newResourceId() as CaCertificateId, fingerprintSha256: String(i).repeat(64) }, 5))));
      assert.deepEqual(outcomes.sort(), ['caCertificate.duplicate', 'caCertificate.duplicate', 'caCertificate.duplicate', 'ok']);
      assert.equal((await fixture.store.list(acme)).length, 2);
    });


    it('enforces the limit under 20 concurrent inserts, and frees a slot on remove', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => codeOf(node(i).insert(newRecord(), 2))));
      assert.equal(results.filter((r) => r === 'ok').length, 2);
      assert.equal(results.filter((r) => r === 'caCertificate.limitReached').length, 18);
      const [first] = await fixture.store.list(acme);
      assert.ok(first);
      await fixture.store.remove(acme, first.id);
      assert.equal(await codeOf(fixture.store.insert(newRecord(), 2)), 'ok');
      assert.equal(await codeOf(fixture.store.insert(newRecord(), 2)), 'caCertificate.limitReached');
    });

    it('marks verified once, idempotently, and lets one tenant at a time claim a key', async () => {
      const key = 'e'.repeat(64);
      const mine = newRecord({ publicKeySha256: key });
      const theirs = newRecord({ publicKeySha256: key, tenant: other });
      await fixture.store.insert(mine, 2);
      await fixture.store.insert(theirs, 2);
      const at = new Date('2026-11-27T10:00:00.000Z');
      const verified = await fixture.store.markVerified(acme, mine.id, at);
      assert.equal(verified?.isVerified, true);
      assert.deepEqual(verified?.verifiedAt, at);
      assert.deepEqual(await fixture.store.markVerified(acme, mine.id, new Date()), verified);
      assert.equal(await codeOf(fixture.store.markVerified(other, theirs.id, at)), 'verification.keyVerifiedByOtherTenant');
      assert.equal((await fixture.store.find(other, theirs.id))?.isVerified, false);
      // Removing the verified CA releases the key for the other tenant.
      await fixture.store.remove(acme, mine.id);
      assert.equal((await fixture.store.markVerified(other, theirs.id, at))?.isVerified, true);
    });

    it('20 concurrent markVerified of one CA: none is refused, every caller gets the verified record', async () => {
      const record = await fixture.store.insert(newRecord(), 2);
      const at = new Date('2026-11-27T12:00:00.000Z');
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => node(i).markVerified(acme, record.id, at)));
      const stored = await fixture.store.find(acme, record.id);
      assert.equal(stored?.isVerified, true);
      for (const answer of answers) assert.deepEqual(answer, stored);
    });

    it('two tenants marking the same key verified at once: exactly one wins, every round', async () => {
      for (let round = 0; round < 5; round++) {
        const key = round.toString(16).padStart(64, 'b');
        const records = await Promise.all([acme, other].map((tenant) => fixture.store.insert(newRecord({ tenant, publicKeySha256: key }), 5)));
        const results = await Promise.all(records.map((record, i) => codeOf(node(i).markVerified(record.tenant, record.id, new Date()))));
        assert.deepEqual(results.sort(), ['ok', 'verification.keyVerifiedByOtherTenant'], `round ${round}`);
        const states = await Promise.all(records.map((record) => fixture.store.find(record.tenant, record.id)));
        assert.equal(states.filter((state) => state?.isVerified).length, 1, `round ${round}`);
      }
    });

    it('a verification racing the removal of the tenant\'s other CA with the same key keeps the key claimed', async () => {
      for (let round = 0; round < 5; round++) {
        const key = round.toString(16).padStart(64, 'a');
        const leaving = await fixture.store.insert(newRecord({ publicKeySha256: key }), 5);
        const staying = await fixture.store.insert(newRecord({ publicKeySha256: key }), 5);
        const theirs = await fixture.store.insert(newRecord({ publicKeySha256: key, tenant: other }), 5);
        await fixture.store.markVerified(acme, leaving.id, new Date());
        await Promise.all([node(0).remove(acme, leaving.id), node(1).markVerified(acme, staying.id, new Date())]);
        assert.equal((await fixture.store.find(acme, staying.id))?.isVerified, true, `round ${round}`);
        assert.equal(await codeOf(fixture.store.markVerified(other, theirs.id, new Date())), 'verification.keyVerifiedByOtherTenant', `round ${round}`);
        await fixture.store.remove(acme, staying.id);
        await fixture.store.remove(other, theirs.id);
      }
    });

    it('keeps a key claimed while another verified CA of the tenant still uses it', async () => {
      const key = 'd'.repeat(64);
      const a = newRecord({ publicKeySha256: key });
      const b = newRecord({ publicKeySha256: key });
      const theirs = newRecord({ publicKeySha256: key, tenant: other });
      for (const r of [a, b, theirs]) await fixture.store.insert(r, 2);
      await fixture.store.markVerified(acme, a.id, new Date());
      await fixture.store.markVerified(acme, b.id, new Date());
      await fixture.store.remove(acme, a.id);
      assert.equal(await codeOf(fixture.store.markVerified(other, theirs.id, new Date())), 'verification.keyVerifiedByOtherTenant');
    });

    it('listAll returns every tenant\'s records', async () => {
      const mine = await fixture.store.insert(newRecord(), 2);
      const theirs = await fixture.store.insert(newRecord({ tenant: other }), 2);
      assert.deepEqual((await fixture.store.listAll()).map((r) => r.id).sort(), [mine.id, theirs.id].sort());
    });

    it('lists in upload order', async () => {
      const first = newRecord({ createdAt: new Date('2026-01-01T00:00:00.000Z') });
      const second = newRecord({ createdAt: new Date('2026-01-02T00:00:00.000Z') });
      await fixture.store.insert(second, 5);
      await fixture.store.insert(first, 5);
      assert.deepEqual((await fixture.store.list(acme)).map((r) => r.id), [first.id, second.id]);
    });
  });
};
