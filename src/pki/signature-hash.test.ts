import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { isStrongHash, signatureHash, type HashName } from './signature-hash.ts';

const RSASSA_PSS = '1.2.840.113549.1.1.10';
const pssParameters = (digestOid: string): ArrayBuffer => AsnConvert.serialize(new RsaSaPssParams({
  hashAlgorithm: new AlgorithmIdentifier({ algorithm: digestOid }),
}));

describe('signatureHash', () => {
  const cases: { name: string; oid: string; parameters?: ArrayBuffer; expected: HashName | undefined }[] = [
    { name: 'md5WithRSAEncryption', oid: '1.2.840.113549.1.1.4', expected: 'md5' },
    { name: 'sha1WithRSAEncryption', oid: '1.2.840.113549.1.1.5', expected: 'sha1' },
    { name: 'sha256WithRSAEncryption', oid: '1.2.840.113549.1.1.11', expected: 'sha256' },
    { name: 'ecdsa-with-SHA1', oid: '1.2.840.10045.4.1', expected: 'sha1' },
    { name: 'ecdsa-with-SHA384', oid: '1.2.840.10045.4.3.3', expected: 'sha384' },
    { name: 'dsa-with-sha1', oid: '1.2.840.10040.4.3', expected: 'sha1' },
    { name: 'Ed25519 (no separate hash)', oid: '1.3.101.112', expected: undefined },
    { name: 'unknown OID', oid: '1.2.3.4', expected: undefined },
    { name: 'RSASSA-PSS without parameters means SHA-1 (RFC 4055 §3.1)', oid: RSASSA_PSS, expected: 'sha1' },
    { name: 'RSASSA-PSS with SHA-256', oid: RSASSA_PSS, parameters: pssParameters('2.16.840.1.101.3.4.2.1'), expected: 'sha256' },
    { name: 'RSASSA-PSS with SHA-512', oid: RSASSA_PSS, parameters: pssParameters('2.16.840.1.101.3.4.2.3'), expected: 'sha512' },
    { name: 'RSASSA-PSS with an unknown digest', oid: RSASSA_PSS, parameters: pssParameters('1.2.3.4'), expected: undefined },
    { name: 'RSASSA-PSS with garbage parameters', oid: RSASSA_PSS, parameters: new Uint8Array([0x30, 0x03, 0xff]).buffer, expected: undefined },
  ];
  for (const { name, oid, parameters, expected } of cases) {
    test(name, () => assert.equal(signatureHash(oid, parameters), expected));
  }
});

describe('isStrongHash', () => {
  const cases: [HashName | undefined, boolean][] = [
    ['md2', false], ['md5', false], ['sha1', false], ['sha224', false], [undefined, false],
    ['sha256', true], ['sha384', true], ['sha512', true],
  ];
  for (const [hash, expected] of cases) test(`${hash ?? 'unknown'} → ${expected}`, () => assert.equal(isStrongHash(hash), expected));
});
