import assert from 'node:assert/strict';
import { createPrivateKey, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { opensslCrl } from '../../test/support/openssl-crl.ts';
import { createCa } from '../../test/support/test-pki.ts';
import { isDomainError } from '../shared/index.ts';
import { isCrlSignedBy, parseCrlPem } from './crl.ts';
import { readDerChildren, readDerElement } from './der.ts';

const derLength = (length: number): Buffer => {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
const toPem = (der: Buffer): string => `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`;
const fromPem = (pem: string): Buffer => Buffer.from(pem.replace(/-----(BEGIN|END) X509 CRL-----/g, '').replace(/\s+/g, ''), 'base64');

// ecdsa-with-SHA256 and ecdsa-with-SHA384 differ only in their last OID octet.
const ECDSA_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex');
const ECDSA_SHA384 = Buffer.from('06082a8648ce3d040303', 'hex');

describe('CRL signature algorithm (RFC 5280 §5.1.1.2)', () => {
  it('refuses a CRL whose tbsCertList.signature differs from its signatureAlgorithm, even validly signed', async () => {
    const ca = await createCa({ keyType: 'p256' });
    const pem = await opensslCrl({ caCertificatePem: ca.certificatePem, caPrivateKeyPem: ca.privateKeyPem, revoked: [{ serial: '1001' }] });
    assert.ok(isCrlSignedBy(parseCrlPem(pem), ca.certificatePem), 'positive control: the CRL as OpenSSL made it verifies');

    const der = fromPem(pem);
    const [tbs, algorithm] = readDerChildren(der, readDerElement(der, 0, der.length));
    const tbsDer = Buffer.from(der.subarray(tbs!.start, tbs!.end));
    const at = tbsDer.indexOf(ECDSA_SHA256);
    assert.ok(at > 0);
    ECDSA_SHA384.copy(tbsDer, at);
    const signature = sign('sha256', tbsDer, createPrivateKey(ca.privateKeyPem));
    const forged = tlv(0x30, Buffer.concat([tbsDer, der.subarray(algorithm!.start, algorithm!.end), tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))]));

    let accepted = false;
    try {
      accepted = isCrlSignedBy(parseCrlPem(toPem(forged)), ca.certificatePem);
    } catch (error) {
      assert.ok(isDomainError(error) && error.code === 'crl.invalid', String(error));
    }
    assert.equal(accepted, false, 'a CRL naming another algorithm inside its signed part than outside is refused');
  });
});
