import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints, id_ce_basicConstraints, id_ce_nameConstraints } from '@peculiar/asn1-x509';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { createCa, generateTestKeyPair, sharedTestKeyPair, type TestCertificate, type TestKeyPair } from '../support/test-pki.ts';
import { addExtension, reissue, type ReissueOptions } from '../support/hostile-certificate.ts';
import { assertError, listOf, newTenant, proofFor, registrationCodeOf, uploadCa, uploadCaOk, verify } from '../support/api-helpers.ts';

// Issue 10, findings 6, 9 and 10 at the REST door, on each dialect: CA certificates that broke
// RFC 5280 uploaded (and one of them as a CA it is not), verification certificates were not held to
// the key and hash rules. Each refusal: 400, its own code, a message that says how to fix it, and
// nothing stored or verified.

const bytes = (der: ArrayBuffer): Buffer => Buffer.from(new Uint8Array(der));
const basicConstraints = (isCa: boolean): Buffer => bytes(AsnConvert.serialize(new BasicConstraints({ cA: isCa })));
const nameConstraints = (): Buffer => bytes(AsnConvert.serialize(new NameConstraints({
  permittedSubtrees: new GeneralSubtrees([new GeneralSubtree({ base: new GeneralName({ dNSName: 'plant.example' }) })]),
})));

/** A self-signed CA made hostile and signed again with its own key. */
const hostileCa = async (subject: string, change: Omit<ReissueOptions, 'signer'>, keyPair?: TestKeyPair): Promise<TestCertificate> => {
  const key = keyPair ?? await generateTestKeyPair('p256');
  return reissue(await createCa({ subject, keyPair: key }), { signer: key, ...change });
};

for (const dialect of testDialects) describeOn(dialect)(`RFC 5280 and strength rules for uploads and verification (REST API) [${dialect}]`, () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({}, { dialect });
  });
  after(async () => { await server?.close(); });

  // A fresh tenant each time, so one accepted upload (on a server without these rules) cannot
  // fill the 2-CA limit and fail the next case for the wrong reason.
  const refuseUpload = async (ca: TestCertificate, code: string, message?: RegExp): Promise<void> => {
    const uploader = newTenant('up');
    assertError(await uploadCa(server, uploader, ca), 400, code, message);
    assert.deepEqual(await listOf(server, uploader), [], 'nothing stored');
  };

  test('duplicate basicConstraints CA:FALSE then CA:TRUE (uploaded as a CA, last one won): 400 certificate.duplicateExtension', async () => {
    await refuseUpload(await hostileCa('CN=Dup BC CA', {
      tbs: (t) => {
        t.extensions = t.extensions!.filter((e) => e.extnID !== id_ce_basicConstraints) as typeof t.extensions;
        addExtension(t, id_ce_basicConstraints, true, basicConstraints(false));
        addExtension(t, id_ce_basicConstraints, true, basicConstraints(true));
      },
    }), 'certificate.duplicateExtension', /basicConstraints .* more than once/);
  });

  test('an unknown critical extension (the CA uploaded and verified, its agents connected): 400 certificate.unknownCriticalExtension', async () => {
    await refuseUpload(await hostileCa('CN=Critical CA', { tbs: (t) => addExtension(t, '1.3.6.1.4.1.99999.7', true, Buffer.from([5, 0])) }),
      'certificate.unknownCriticalExtension', /1\.3\.6\.1\.4\.1\.99999\.7/);
  });

  test('critical nameConstraints (agents outside the subtree were admitted): 400 caCertificate.nameConstraintsNotSupported', async () => {
    await refuseUpload(await hostileCa('CN=Constrained CA', { tbs: (t) => addExtension(t, id_ce_nameConstraints, true, nameConstraints()) }),
      'caCertificate.nameConstraintsNotSupported', /does not enforce name constraints/);
  });

  test('one CA twice: its second encoding (outer length re-encoded, same signature) is refused as certificate.notDer', async () => {
    const key = await generateTestKeyPair('p256');
    const original = await createCa({ subject: 'CN=Twin CA', keyPair: key });
    const twin = reissue(original, { signer: key, outerTree: (t) => { t.longLengthOctets = 3; } });
    const otherTenant = newTenant('twin');
    await uploadCaOk(server, otherTenant, original, 'original');
    const before = await listOf(server, otherTenant);
    assertError(await uploadCa(server, otherTenant, twin, 'twin'), 400, 'certificate.notDer', /not strict DER/);
    assert.deepEqual(await listOf(server, otherTenant), before, 'the tenant still holds the CA once');
  });

  test('a long-form length inside the signed part: 400 certificate.notDer', async () => {
    await refuseUpload(await hostileCa('CN=Long Subject CA', { tbsTree: (t) => { t.children![5]!.longLengthOctets = 2; } }), 'certificate.notDer');
  });

  test('a negative serial number: 400 certificate.serialNumberInvalid', async () => {
    await refuseUpload(await hostileCa('CN=Negative Serial CA', { tbs: (t) => { t.serialNumber = new Uint8Array([0x80, 0x01]).buffer; } }), 'certificate.serialNumberInvalid', /negative/);
  });

  test('a 21-octet serial number: 400 certificate.serialNumberInvalid', async () => {
    await refuseUpload(await hostileCa('CN=Long Serial CA', { tbs: (t) => { t.serialNumber = new Uint8Array(21).fill(0x42).buffer; } }), 'certificate.serialNumberInvalid', /21 octets/);
  });

  describe('verification certificates', () => {
    const tenant = newTenant('proof');
    let ca: TestCertificate;
    let id: string;
    let code: string;
    before(async () => {
      ca = await createCa({ subject: 'CN=Verification Rules CA' });
      id = (await uploadCaOk(server, tenant, ca, 'verification rules')).id;
      code = await registrationCodeOf(server, tenant, id);
    });

    const refuseProof = async (proof: TestCertificate, errorCode: string, message?: RegExp): Promise<void> => {
      assertError(await verify(server, tenant, id, proof.certificatePem), 400, errorCode, message);
      const stored = (await listOf(server, tenant)).find((c) => c.id === id);
      assert.equal(stored.verifiedAt, null, 'still unverified');
    };

    test('weak proof: an RSA-1024 verification key: 400 verification.weakKey', async () => {
      await refuseProof(await proofFor(ca, code, { keyPair: await sharedTestKeyPair('rsa1024') }), 'verification.weakKey', /RSA 1024 bits/);
    });

    test('weak proof: signed with SHA-1: 400 verification.weakSignature', async () => {
      await refuseProof(await proofFor(ca, code, { hash: 'SHA-1' }), 'verification.weakSignature', /SHA1/);
    });

    test('a proof with duplicate extensions: 400 certificate.duplicateExtension', async () => {
      await refuseProof(reissue(await proofFor(ca, code), { signer: ca, tbs: (t) => { addExtension(t, '1.2.3.4', false, Buffer.from([5, 0])); addExtension(t, '1.2.3.4', false, Buffer.from([5, 0])); } }),
        'certificate.duplicateExtension');
    });

    test('a proof with an unknown critical extension: 400 certificate.unknownCriticalExtension', async () => {
      await refuseProof(reissue(await proofFor(ca, code), { signer: ca, tbs: (t) => addExtension(t, '1.2.3.4', true, Buffer.from([5, 0])) }), 'certificate.unknownCriticalExtension');
    });

    test('a good proof still verifies afterwards', async () => {
      const answer = await verify(server, tenant, id, (await proofFor(ca, code)).certificatePem);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    });
  });

  test('finding 9: a CA whose notBefore is 2 minutes ahead uploads and verifies (within the skew)', async () => {
    const tenant = newTenant('early');
    const early = await createCa({ subject: 'CN=Early CA', notBefore: new Date(Date.now() + 120_000) });
    const { id } = await uploadCaOk(server, tenant, early, 'early');
    const answer = await verify(server, tenant, id, (await proofFor(early, await registrationCodeOf(server, tenant, id))).certificatePem);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });
});
