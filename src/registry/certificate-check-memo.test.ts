import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it, mock } from 'node:test';
import { createCa, ecdsaSignatureTwin, issueCertificate, type TestCertificate } from '../../test/support/test-pki.ts';
import { parseCertificateDer, type Certificate } from '../pki/index.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import { admitAgentCertificate } from './agent-admission.ts';
import { CertificateCheckMemo } from './certificate-check-memo.ts';
import { TrustIndex } from './trust-index.ts';

const tenant = 'acme' as TenantId;
const record = (id: string, ca: TestCertificate, isVerified = true) => ({ id: id as CaCertificateId, tenant, isVerified, certificatePem: ca.certificatePem });
const derOf = (certificate: TestCertificate): Buffer => new X509Certificate(certificate.certificatePem).raw;
/** As the broker does on every connect: a fresh parse of the peer certificate's bytes. */
const connect = (der: Buffer): Certificate => parseCertificateDer(der, 'client certificate');
const admit = (index: TrustIndex, der: Buffer, now = new Date()) =>
  admitAgentCertificate({ certificate: connect(der), clientId: 'acme_pump', now, clockSkewMs: 0 }, index);

/** Counts OpenSSL signature checks (X509Certificate#verify) while `run` runs. */
const countVerifications = <T>(run: () => T): { result: T; verifications: number } => {
  const spy = mock.method(X509Certificate.prototype, 'verify');
  try {
    const result = run();
    return { result, verifications: spy.mock.callCount() };
  } finally {
    spy.mock.restore();
  }
};

describe('CertificateCheckMemo: signature and key checks skipped on reconnect, everything that can change still checked (decision 0032)', () => {
  it('a reconnect with the same certificate skips the signature check; the verdict is the same', async () => {
    const ca = await createCa({ subject: 'CN=Acme CA' });
    const der = derOf(await issueCertificate(ca, { subject: 'CN=pump' }));
    const index = new TrustIndex();
    index.upsert(record('ca-1', ca));
    const first = countVerifications(() => admit(index, der));
    assert.equal(first.result.isAccepted, true);
    assert.equal(first.verifications, 1);
    const again = countVerifications(() => admit(index, der));
    assert.equal(again.result.isAccepted, true);
    assert.equal(again.verifications, 0, 'remembered');
  });

  it('hostile: a CA deleted is not trusted through the memo, and a re-added one (same key, new record) is checked anew', async () => {
    const ca = await createCa({ subject: 'CN=Acme CA' });
    const der = derOf(await issueCertificate(ca, { subject: 'CN=pump' }));
    const index = new TrustIndex();
    index.upsert(record('ca-1', ca));
    assert.equal(admit(index, der).isAccepted, true);
    index.remove('ca-1');
    assert.equal(index.certificateChecks.size, 0, 'deleting a CA forgets every remembered check');
    const refused = admit(index, der);
    assert.equal(refused.isAccepted, false);
    assert.equal(!refused.isAccepted && refused.code, 'mqtt.unknownCa');
    index.upsert(record('ca-2', ca, false));
    const unverified = admit(index, der);
    assert.equal(!unverified.isAccepted && unverified.code, 'mqtt.caNotVerified', 're-added but not verified yet: refused');
    index.upsert(record('ca-2', ca, true));
    const readded = countVerifications(() => admit(index, der));
    assert.equal(readded.result.isAccepted && readded.result.caCertificate.id, 'ca-2');
  });

  it('hostile: a CA with the same name (even the same record id) but another key does not inherit the remembered signature', async () => {
    const [ca, impostor] = await Promise.all([createCa({ subject: 'CN=Acme CA' }), createCa({ subject: 'CN=Acme CA' })]);
    const der = derOf(await issueCertificate(ca, { subject: 'CN=pump' }));
    const index = new TrustIndex();
    index.upsert(record('ca-1', ca));
    assert.equal(admit(index, der).isAccepted, true);
    // Replaced in place (upsert, no remove): the memo is not cleared, the key is what tells them apart.
    index.upsert(record('ca-1', impostor));
    assert.equal(index.certificateChecks.size > 0, true, 'the memo was kept');
    const refused = countVerifications(() => admit(index, der));
    assert.equal(!refused.result.isAccepted && refused.result.code, 'mqtt.unknownCa');
    assert.equal(refused.verifications <= 1, true, 'skipped by the key identifiers, or checked against the impostor key');
    // The memo itself: the impostor's key is another fact, checked for itself.
    let checked = 0;
    const certificate = connect(der);
    assert.equal(index.certificateChecks.isSignedBy(certificate, connect(derOf(impostor)), () => { checked += 1; return false; }), false);
    assert.equal(checked, 1);
    // Both at once: the genuine one is found, never the impostor.
    index.upsert(record('ca-2', ca));
    const both = admit(index, der);
    assert.equal(both.isAccepted && both.caCertificate.id, 'ca-2');
  });

  it('hostile: other bytes of the same certificate (the ECDSA twin, a tampered signature, a non-DER length) are checked anew', async () => {
    const ca = await createCa({ subject: 'CN=Acme CA' });
    const der = derOf(await issueCertificate(ca, { subject: 'CN=pump' }));
    const index = new TrustIndex();
    index.upsert(record('ca-1', ca));
    assert.equal(admit(index, der).isAccepted, true);

    // (r, n - s): as valid a signature, other bytes: verified again (and accepted, as it was before the memo).
    const twin = countVerifications(() => admit(index, ecdsaSignatureTwin(der)));
    assert.equal(twin.verifications, 1);
    assert.equal(twin.result.isAccepted, true);

    // The signed part kept, the signature's last byte changed: refused, whatever was remembered.
    const tampered = Buffer.from(der);
    tampered[tampered.length - 1] = tampered.at(-1)! ^ 0x01;
    const forged = countVerifications(() => admit(index, tampered));
    assert.equal(forged.verifications, 1);
    assert.equal(forged.result.isAccepted, false);

    // The outer SEQUENCE's length in a longer form than DER allows (same content): never found in
    // the memo, refused as not DER if it parses at all.
    assert.equal(der[0], 0x30);
    assert.equal(der[1], 0x82, 'a P-256 certificate has a two-byte length');
    const longForm = Buffer.concat([Buffer.from([0x30, 0x83, 0x00]), der.subarray(2)]);
    let parsed: Certificate | undefined;
    try {
      parsed = connect(longForm);
    } catch {
      parsed = undefined; // refused by the parser: nothing to remember either
    }
    assert.ok(parsed, "OpenSSL reads the long form; the structure rule refuses it");
    if (parsed) {
      assert.notEqual(parsed.fingerprintSha256, connect(der).fingerprintSha256);
      const verdict = admitAgentCertificate({ certificate: parsed, clientId: 'acme_pump', now: new Date(), clockSkewMs: 0 }, index);
      assert.equal(verdict.isAccepted, false);
      assert.equal(!verdict.isAccepted && verdict.code, 'certificate.notDer');
    }
  });

  it('validity and revocation are still checked on every connect, with the memo warm', async () => {
    const ca = await createCa({ subject: 'CN=Acme CA' });
    const issued = await issueCertificate(ca, { subject: 'CN=pump', notAfter: new Date(Date.now() + 3_600_000) });
    const der = derOf(issued);
    const index = new TrustIndex();
    index.upsert(record('ca-1', ca));
    assert.equal(admit(index, der).isAccepted, true);
    const expired = admit(index, der, new Date(Date.now() + 2 * 3_600_000));
    assert.equal(!expired.isAccepted && expired.code, 'mqtt.certificateExpired');
    index.revoke('ca-1', connect(der).serialNumber);
    const revoked = admit(index, der);
    assert.equal(!revoked.isAccepted && revoked.code, 'mqtt.certificateRevoked');
  });

  it('a weak key is never remembered: refused on every connect; a strong one is described once', async () => {
    const ca = await createCa({ subject: 'CN=Acme CA' });
    const weak = derOf(await issueCertificate(ca, { subject: 'CN=pump', keyType: 'rsa1024' }));
    const index = new TrustIndex();
    index.upsert(record('ca-1', ca));
    for (let attempt = 0; attempt < 2; attempt++) {
      const verdict = admit(index, weak);
      assert.equal(!verdict.isAccepted && verdict.code, 'mqtt.certificateWeakKey', `attempt ${attempt}`);
    }
    const memo = new CertificateCheckMemo();
    const strong = connect(derOf(await issueCertificate(ca, { subject: 'CN=pump' })));
    let described = 0;
    const describe = () => { described += 1; return undefined; };
    assert.equal(memo.weakKeyDescription(strong, describe), undefined);
    assert.equal(memo.weakKeyDescription(connect(strong.der), describe), undefined);
    assert.equal(described, 1);
  });

  it('is bounded: the least recently used fact goes first; a failed check is not remembered; adopt forgets', async () => {
    const ca = await createCa({ subject: 'CN=Acme CA' });
    const [a, b, c] = await Promise.all(['CN=a', 'CN=b', 'CN=c'].map(async (subject) => connect(derOf(await issueCertificate(ca, { subject })))));
    const caCertificate = connect(derOf(ca));
    const memo = new CertificateCheckMemo(2);
    let checks = 0;
    const yes = () => { checks += 1; return true; };
    const no = () => { checks += 1; return false; };
    assert.equal(memo.isSignedBy(a!, caCertificate, no), false);
    assert.equal(memo.size, 0, 'a failed check is not remembered');
    memo.isSignedBy(a!, caCertificate, yes);
    memo.isSignedBy(b!, caCertificate, yes);
    memo.isSignedBy(a!, caCertificate, yes); // a used again: b is now the oldest
    memo.isSignedBy(c!, caCertificate, yes); // b goes
    assert.equal(memo.size, 2);
    checks = 0;
    memo.isSignedBy(a!, caCertificate, yes);
    memo.isSignedBy(c!, caCertificate, yes);
    assert.equal(checks, 0, 'a and c remembered');
    memo.isSignedBy(b!, caCertificate, yes);
    assert.equal(checks, 1, 'b was forgotten');

    const index = new TrustIndex();
    index.upsert(record('ca-1', ca));
    assert.equal(admit(index, a!.der).isAccepted || true, true);
    assert.equal(index.certificateChecks.size > 0, true);
    const fresh = new TrustIndex();
    fresh.upsert(record('ca-1', ca));
    index.adopt(fresh);
    assert.equal(index.certificateChecks.size, 0);
  });
});
