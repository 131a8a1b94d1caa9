import assert from 'node:assert/strict';
import { generateKeyPairSync, KeyObject, randomUUID, sign, X509Certificate } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { createCa, issueCertificate, sharedTestKeyPair, type TestCertificate } from '../../test/support/test-pki.ts';
import { DomainError, systemClock, type CaCertificateId, type TenantId } from '../shared/index.ts';
import { InMemoryRevocationStore } from './in-memory-revocation-store.ts';
import { InMemoryAuditTrail } from './audit-trail.ts';
import {
  applyToTrustIndex, createRegistry, InMemoryAgentCertificateStore, InMemoryAgentStore, InMemoryCaCertificateStore, InMemoryManagedCaStore,
  loadTrustIndex, TrustIndex,
  type AgentCertificateStore, type AgentStore, type CaCertificateRecord, type CaCertificateStore, type ManagedCaStore, type RegistryEvent, type StoredRecord,
} from './index.ts';

// Finding the issuing CA costs the same with 2 or 20,000 registered CAs (an
// in-memory index) and the connect path does no database query for a known CA. Proven at the
// registry level: the stores the trust index is loaded from (CA certificates, managed CAs, agent
// certificates for revocations) are wrapped so that, once the index is loaded, every call is
// recorded and throws; admitAgent must get by without them.

const SETTINGS = { maxCaCertificatesPerTenant: 2, clockSkewMs: 300_000 };

/** Wraps a store so that every method call is recorded and, once armed, throws. */
const guardStore = <T extends object>(inner: T, name: string) => {
  const calls: string[] = [];
  let armedAt: number | undefined;
  let markedAt = 0;
  const store = new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        if (armedAt !== undefined) throw new Error(`${name}.${String(property)} was called on the connect path`);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store,
    arm: () => { armedAt = calls.length; },
    /** Every call since arm(). */
    callsSinceArmed: () => calls.slice(armedAt ?? calls.length),
    /** Counts from now on without throwing. */
    mark: () => { markedAt = calls.length; },
    callsSinceMarked: () => calls.slice(markedAt),
  };
};

const refusalCodeOf = (promise: Promise<unknown>): Promise<string> => promise.then(
  () => assert.fail('the agent was admitted but must be refused'),
  (error: unknown) => {
    assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
    return error.code;
  },
);

/** A tenant's CA registered and verified through the registry's own use cases. */
const registerVerified = async (registry: ReturnType<typeof createRegistry>, tenant: TenantId, ca: TestCertificate): Promise<CaCertificateRecord> => {
  const record = await registry.registerCaCertificate({ tenant, name: 'ca', caCertificatePem: ca.certificatePem });
  const proof = await issueCertificate(ca, { subject: `CN=${record.registrationCode}`, version: 1 });
  return registry.verifyCaCertificate({ tenant, id: record.id, verificationCertificatePem: proof.certificatePem });
};

/** The three stores the trust index is loaded from, each guarded. */
const guardedTrustSources = () => {
  const guards = {
    caCertificates: guardStore<CaCertificateStore>(new InMemoryCaCertificateStore(), 'CaCertificateStore'),
    managedCas: guardStore<ManagedCaStore>(new InMemoryManagedCaStore(), 'ManagedCaStore'),
    agentCertificates: guardStore<AgentCertificateStore>(new InMemoryAgentCertificateStore(), 'AgentCertificateStore'),
  };
  return {
    stores: { caCertificates: guards.caCertificates.store, managedCas: guards.managedCas.store, agentCertificates: guards.agentCertificates.store, revocations: new InMemoryRevocationStore() },
    arm: () => Object.values(guards).forEach((guard) => guard.arm()),
    /** Every call on any of them since arm(), as "Store.method". */
    callsSinceArmed: () => Object.entries(guards).flatMap(([name, guard]) => guard.callsSinceArmed().map((method) => `${name}.${method}`)),
  };
};

/**
 * Storage as after a restart: the CA certificates are put in place through a registry, then a new
 * trust index is loaded from the stores and the stores are armed. Returns the registry the broker
 * would use from then on.
 */
const worldLoadedAtStart = async (setUp: (registry: ReturnType<typeof createRegistry>) => Promise<void>) => {
  const sources = guardedTrustSources();
  const agents = guardStore<AgentStore>(new InMemoryAgentStore(), 'AgentStore');
  const setupRegistry = createRegistry({
    ...sources.stores, agents: agents.store, trustIndex: new TrustIndex(),
    events: { publish: () => undefined, catchUp: async () => false }, clock: systemClock, settings: SETTINGS, audit: new InMemoryAuditTrail(),
  });
  await setUp(setupRegistry);

  const trustIndex = new TrustIndex();
  await loadTrustIndex(trustIndex, sources.stores, new Date());
  sources.arm();
  const registry = createRegistry({
    ...sources.stores, agents: agents.store, trustIndex,
    events: { publish: () => undefined, catchUp: async () => false }, clock: systemClock, settings: SETTINGS, audit: new InMemoryAuditTrail(),
  });
  return { registry, trustIndex, trustSources: sources, agents };
};

const admit = (registry: ReturnType<typeof createRegistry>, agent: TestCertificate, clientId: string) =>
  registry.admitAgent({ certificateDer: agent.certificateDer, clientId, sessionId: randomUUID() });

// ---- many CAs, cheaply --------------------------------------------------------------------------

interface Filler {
  readonly record: CaCertificateRecord;
  /** Usable as an issuer for issueCertificate (with its own key pair). */
  readonly ca: TestCertificate;
}

/**
 * `count` distinct, correctly self-signed CA certificates (subjects CN=filler-ca-000000...), each of
 * its own tenant and key, all verified. Minting 20,000 with createCa would take about a minute, so
 * one template is minted and its subject digits and public key patched in place (same lengths, so
 * every DER offset stays), then the TBSCertificate is signed with the new key; an ECDSA signature
 * of another DER length is simply drawn again. Each has a key of its own: a key trusted by two
 * tenants decides for none (one tenant per CA key: docs/architecture.md, invariants).
 */
const mintFillers = async (count: number): Promise<Filler[]> => {
  const keyPair = await sharedTestKeyPair('p256');
  const template = await createCa({ subject: 'CN=filler-ca-000000', keyPair });
  const der = template.certificateDer;
  const lengthAt = (offset: number): { header: number; length: number } => {
    const first = der[offset + 1]!;
    if (first < 0x80) return { header: 2, length: first };
    const bytes = first & 0x7f;
    return { header: 2 + bytes, length: der.readUIntBE(offset + 2, bytes) };
  };
  const tbsStart = lengthAt(0).header;
  const tbs = lengthAt(tbsStart);
  const tbsEnd = tbsStart + tbs.header + tbs.length;
  const algorithm = lengthAt(tbsEnd);
  const bitStringStart = tbsEnd + algorithm.header + algorithm.length;
  assert.equal(der[bitStringStart], 0x03, 'the signature BIT STRING follows the algorithm');
  const bitString = lengthAt(bitStringStart);
  const signatureStart = bitStringStart + bitString.header + 1; // skip the unused-bits byte
  const signatureLength = der.length - signatureStart;
  const templateSpki = KeyObject.from(keyPair.publicKey).export({ type: 'spki', format: 'der' });
  const marker = Buffer.from('000000');
  const now = new Date();

  const fillers: Filler[] = [];
  for (let i = 0; i < count; i++) {
    const digits = Buffer.from(String(i).padStart(6, '0'));
    const certificate = Buffer.from(der);
    const tbsBytes = certificate.subarray(tbsStart, tbsEnd);
    for (let at = tbsBytes.indexOf(marker); at !== -1; at = tbsBytes.indexOf(marker, at + 1)) digits.copy(tbsBytes, at);
    const own = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = own.publicKey.export({ type: 'spki', format: 'der' });
    spki.copy(tbsBytes, tbsBytes.indexOf(templateSpki));
    const privateKey = own.privateKey;
    let signature: Buffer;
    do signature = sign('sha256', tbsBytes, privateKey); while (signature.length !== signatureLength);
    signature.copy(certificate, signatureStart);
    const x509 = new X509Certificate(certificate);
    const tenant = `filler${String(i).padStart(6, '0')}` as TenantId;
    fillers.push({
      ca: {
        ...template, certificateDer: certificate, certificatePem: x509.toString(), subject: `CN=filler-ca-${digits.toString()}`,
        privateKey: own.privateKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']),
        publicKey: own.publicKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
      },
      record: {
        id: `f${String(i).padStart(23, '0')}` as CaCertificateId,
        tenant,
        name: 'filler',
        description: undefined,
        certificatePem: x509.toString(),
        subject: x509.subject,
        commonName: `filler-ca-${digits.toString()}`,
        fingerprintSha256: x509.fingerprint256.replaceAll(':', '').toLowerCase(),
        publicKeySha256: x509.fingerprint256, // not read by the index
        tbsCertificateSha256: undefined,
        subjectKeyId: undefined,
        notBefore: x509.validFromDate,
        notAfter: x509.validToDate,
        registrationCode: `code${i}`,
        isVerified: true,
        createdAt: now,
        verifiedAt: now,
      },
    });
  }
  return fillers;
};

const countVerifyCalls = (t: TestContext) => t.mock.method(X509Certificate.prototype, 'verify');

describe('admitAgent: the connect path and the trust stores', () => {
  const acme = 'acme' as TenantId;

  it('admits an agent of a known verified CA with no trust store call (index loaded at start)', async () => {
    const ca = await createCa({ subject: 'CN=acme-ca' });
    const { registry, trustSources, agents } = await worldLoadedAtStart(async (setUp) => { await registerVerified(setUp, acme, ca); });
    agents.mark(); // the agent store is allowed on the connect path: only counted
    const agent = await issueCertificate(ca, { subject: 'CN=pump-1' });

    const first = await admit(registry, agent, 'acme_pump-1');
    const again = await admit(registry, agent, 'acme_pump-1');

    assert.equal(first.tenant, acme);
    assert.equal(first.agent.clientId, 'acme_pump-1');
    assert.equal(again.agent.id, first.agent.id);
    assert.deepEqual(trustSources.callsSinceArmed(), [], 'no trust store call while admitting');
    // Onboarding (first) and updating (again) the agent is the connect path's one storage call.
    assert.deepEqual(agents.callsSinceMarked(), ['recordConnection', 'recordConnection']);
    // The guard is live: any call now throws.
    assert.throws(() => trustSources.stores.caCertificates.listAll(), /CaCertificateStore\.listAll was called on the connect path/);
  });

  // Issue 13, item 3: the record switched CA and fingerprint silently; admission now returns the
  // fact (the broker logs it), and the record still follows the certificate.
  it('says when a known agent comes with another certificate or another CA of its tenant than its record held', async () => {
    const caA = await createCa({ subject: 'CN=acme-ca-a' });
    const caB = await createCa({ subject: 'CN=acme-ca-b' });
    let recordA!: CaCertificateRecord;
    let recordB!: CaCertificateRecord;
    const { registry } = await worldLoadedAtStart(async (setUp) => {
      recordA = await registerVerified(setUp, acme, caA);
      recordB = await registerVerified(setUp, acme, caB);
    });
    const first = await issueCertificate(caA, { subject: 'CN=pump-1' });
    const renewed = await issueCertificate(caA, { subject: 'CN=pump-1' });
    const moved = await issueCertificate(caB, { subject: 'CN=pump-1' });
    const fingerprintOf = (certificate: TestCertificate) => new X509Certificate(certificate.certificateDer).fingerprint256.replaceAll(':', '').toLowerCase();

    assert.equal((await admit(registry, first, 'acme_pump-1')).certificateChange, undefined, 'onboarding replaces nothing');
    assert.equal((await admit(registry, first, 'acme_pump-1')).certificateChange, undefined, 'the same certificate again');
    const afterRenewal = await admit(registry, renewed, 'acme_pump-1');
    assert.deepEqual(afterRenewal.certificateChange, { previousCaCertificateId: recordA.id, previousFingerprintSha256: fingerprintOf(first) });
    assert.equal(afterRenewal.agent.certificateFingerprintSha256, fingerprintOf(renewed));
    assert.equal('certificateChange' in afterRenewal.agent, false, 'the agent is the record, without the fact');
    const afterMove = await admit(registry, moved, 'acme_pump-1');
    assert.deepEqual(afterMove.certificateChange, { previousCaCertificateId: recordA.id, previousFingerprintSha256: fingerprintOf(renewed) });
    assert.equal(afterMove.agent.caCertificateId, recordB.id);
    assert.equal(afterMove.agent.id, afterRenewal.agent.id);
    // Issue 15, part 3: the record holds the serial and validity of the certificate it came with.
    const x509 = new X509Certificate(moved.certificateDer);
    assert.deepEqual(afterMove.agent.certificateValidity, {
      serialNumber: x509.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''), notBefore: x509.validFromDate, notAfter: x509.validToDate,
    });
  });

  it('admits an agent of a CA verified while running (index kept up to date by events) with no trust store call', async () => {
    const sources = guardedTrustSources();
    const trustIndex = new TrustIndex();
    const applied: Promise<void>[] = [];
    const registry = createRegistry({
      ...sources.stores,
      agents: new InMemoryAgentStore(),
      trustIndex,
      // What the registry's event follower does: the index follows the registry's events.
      events: {
        publish: (event: RegistryEvent, stored?: StoredRecord) => { const done = applyToTrustIndex(trustIndex, sources.stores, event, stored); applied.push(done); return done; },
        catchUp: async () => false,
      },
      clock: systemClock,
      audit: new InMemoryAuditTrail(),
      settings: SETTINGS,
    });
    const ca = await createCa({ subject: 'CN=acme-ca' });
    await registerVerified(registry, acme, ca);
    await Promise.all(applied);
    sources.arm();

    const { agent } = await admit(registry, await issueCertificate(ca, { subject: 'CN=pump-2' }), 'acme_pump-2');

    assert.equal(agent.clientId, 'acme_pump-2');
    assert.deepEqual(sources.callsSinceArmed(), []);
  });

  it('admits a managed-CA agent certificate and refuses a revoked one, with no trust store call', async () => {
    let issuedPems: string[] = [];
    const { registry, trustSources } = await worldLoadedAtStart(async (setUp) => {
      const kept = await setUp.createAgentCertificate({ tenant: acme, name: 'gateway-1' });
      const revoked = await setUp.createAgentCertificate({ tenant: acme, name: 'gateway-2' });
      await setUp.revokeAgentCertificate(acme, revoked.certificate.id);
      issuedPems = [kept, revoked].map((created) => created.certificate.certificatePem);
    });
    const [kept, revoked] = issuedPems.map((pem) => ({ certificateDer: new X509Certificate(pem).raw }));

    const admitted = await registry.admitAgent({ certificateDer: kept!.certificateDer, clientId: 'acme_gateway-1', sessionId: randomUUID() });
    assert.equal(admitted.agent.clientId, 'acme_gateway-1');
    assert.equal(await refusalCodeOf(registry.admitAgent({ certificateDer: revoked!.certificateDer, clientId: 'acme_gateway-2', sessionId: randomUUID() })),
      'mqtt.certificateRevoked');
    assert.deepEqual(trustSources.callsSinceArmed(), []);
  });

  it('refuses unknown CA, unverified CA and a wrong client id, also without any trust store call', async () => {
    const verified = await createCa({ subject: 'CN=acme-ca' });
    const unverified = await createCa({ subject: 'CN=acme-unverified-ca' });
    const stranger = await createCa({ subject: 'CN=stranger-ca' });
    const { registry, trustSources } = await worldLoadedAtStart(async (setUp) => {
      await registerVerified(setUp, acme, verified);
      await setUp.registerCaCertificate({ tenant: acme, name: 'pending', caCertificatePem: unverified.certificatePem });
    });

    assert.equal(await refusalCodeOf(admit(registry, await issueCertificate(stranger, { subject: 'CN=x' }), 'acme_x')), 'mqtt.unknownCa');
    assert.equal(await refusalCodeOf(admit(registry, await issueCertificate(unverified, { subject: 'CN=y' }), 'acme_y')), 'mqtt.caNotVerified');
    assert.equal(await refusalCodeOf(admit(registry, await issueCertificate(verified, { subject: 'CN=z' }), 'acme_other')), 'mqtt.clientIdMismatch');
    // Signed by another key but naming the verified CA as issuer (and carrying its AKI).
    assert.equal(await refusalCodeOf(admit(registry, await issueCertificate(verified, { subject: 'CN=w', signWith: stranger }), 'acme_w')), 'mqtt.unknownCa');
    assert.deepEqual(trustSources.callsSinceArmed(), []);
  });

  it('same-named CAs of three tenants share one bucket; each agent lands in its own tenant', async (t) => {
    const tenants = ['alpha', 'bravo', 'charlie'] as TenantId[];
    const cas = await Promise.all(tenants.map(() => createCa({ subject: 'CN=Device CA,O=Example' })));
    const sneaky = await createCa({ subject: 'CN=Device CA,O=Example' }); // registered by delta, never verified
    const { registry, trustIndex, trustSources } = await worldLoadedAtStart(async (setUp) => {
      for (const [i, tenant] of tenants.entries()) await registerVerified(setUp, tenant, cas[i]!);
      await setUp.registerCaCertificate({ tenant: 'delta' as TenantId, name: 'same name', caCertificatePem: sneaky.certificatePem });
    });
    assert.equal(trustIndex.size, 4);

    const verifyCalls = countVerifyCalls(t);
    for (const [i, tenant] of tenants.entries()) {
      const before = verifyCalls.mock.callCount();
      const { tenant: admittedTo } = await admit(registry, await issueCertificate(cas[i]!, { subject: 'CN=sensor' }), `${tenant}_sensor`);
      assert.equal(admittedTo, tenant);
      // At most the bucket of this subject is signature-checked (AKI/SKI usually narrows it to one).
      assert.ok(verifyCalls.mock.callCount() - before <= 4, `verify calls: ${verifyCalls.mock.callCount() - before}`);
    }
    assert.deepEqual(trustSources.callsSinceArmed(), []);
  });

  it('with 2 and with 20,000 registered CAs, admission needs one signature check: the issuer\'s bucket holds one CA', { timeout: 120_000 }, async (t) => {
    const fillers = await mintFillers(20_000 - 1); // + acme's CA = 20,000
    const first = fillers[0]!;
    const last = fillers.at(-1)!;

    for (const total of [2, 20_000]) {
      const acmeCa = await createCa({ subject: 'CN=acme-ca' });
      const { registry, trustIndex, trustSources } = await worldLoadedAtStart(async (setUp) => { await registerVerified(setUp, acme, acmeCa); });
      const loadStarted = performance.now();
      // The other CAs go straight into the index: as loadTrustIndex would put them there.
      for (const filler of fillers.slice(0, total - 1)) trustIndex.upsert(filler.record);
      const loadMs = performance.now() - loadStarted;
      assert.equal(trustIndex.size, total);

      const verifyCalls = countVerifyCalls(t);
      const agent = await issueCertificate(acmeCa, { subject: 'CN=pump-1' });
      const admitStarted = performance.now();
      const { tenant } = await admit(registry, agent, 'acme_pump-1');
      const admitMs = performance.now() - admitStarted;
      assert.equal(tenant, acme);
      assert.equal(verifyCalls.mock.callCount(), 1, `signature checks while admitting with ${total} CAs`);

      // The first and (with 20,000) the last filler CA's agents get in too, each with one check.
      const farAway = total === 2 ? first : last;
      verifyCalls.mock.resetCalls();
      const farAgent = await issueCertificate(farAway.ca, { subject: 'CN=meter-9' });
      assert.equal((await admit(registry, farAgent, `${farAway.record.tenant}_meter-9`)).tenant, farAway.record.tenant);
      assert.equal(verifyCalls.mock.callCount(), 1);

      // A certificate naming a registered CA as issuer but signed by another key: the lookup
      // lands in that CA's bucket (one CA) and checks exactly one signature before refusing.
      const stranger = await createCa({ subject: 'CN=stranger' });
      const forged = await issueCertificate(farAway.ca, { subject: 'CN=meter-10', signWith: stranger });
      verifyCalls.mock.resetCalls();
      assert.equal(await refusalCodeOf(admit(registry, forged, `${farAway.record.tenant}_meter-10`)), 'mqtt.unknownCa');
      assert.equal(verifyCalls.mock.callCount(), 1);

      assert.deepEqual(trustSources.callsSinceArmed(), []);
      verifyCalls.mock.restore();
      t.diagnostic(`${total} CAs: index filled in ${loadMs.toFixed(0)} ms, one admission took ${admitMs.toFixed(2)} ms`);
    }
  });
});
