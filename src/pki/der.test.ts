import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier, AuthorityKeyIdentifier, BasicConstraints, KeyIdentifier, KeyUsage, KeyUsageFlags, SubjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import {
  decodeAuthorityKeyIdentifier, decodeBasicConstraints, decodeKeyUsage, decodeOid, decodeSubjectKeyIdentifier, readDerChildren, readDerElement,
} from './der.ts';

const der = (bytes: number[]): Buffer => Buffer.from(bytes);
const oidOf = (dotted: string): string => {
  // AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, ... }: the schema parser encodes the OID.
  const encoded = Buffer.from(AsnConvert.serialize(new AlgorithmIdentifier({ algorithm: dotted })));
  return decodeOid(encoded, readDerChildren(encoded, readDerElement(encoded, 0, encoded.length))[0]!);
};

describe('readDerElement', () => {
  test('short and long definite lengths', () => {
    assert.deepEqual(readDerElement(der([0x04, 0x02, 0xaa, 0xbb]), 0, 4), { tag: 0x04, start: 0, contentStart: 2, end: 4 });
    const long = Buffer.concat([der([0x04, 0x81, 0x80]), Buffer.alloc(0x80)]);
    assert.deepEqual(readDerElement(long, 0, long.length), { tag: 0x04, start: 0, contentStart: 3, end: 0x83 });
  });

  const refused: [string, number[]][] = [
    ['BER indefinite length', [0x30, 0x80, 0x00, 0x00]],
    ['a length past its container', [0x04, 0x05, 0x00]],
    ['a truncated long length', [0x04, 0x82, 0x01]],
    ['a length of more than 4 bytes', [0x04, 0x85, 0, 0, 0, 0, 1, 0]],
    ['a multi-byte tag', [0x1f, 0x81, 0x00]],
    ['a lone tag byte', [0x04]],
  ];
  for (const [name, bytes] of refused) {
    test(`refuses ${name}`, () => assert.throws(() => readDerElement(der(bytes), 0, bytes.length)));
  }
});

describe('decodeOid agrees with the schema parser', () => {
  for (const dotted of ['2.5.29.19', '2.5.4.3', '1.2.840.113549.1.1.11', '1.3.6.1.5.5.7.3.2', '2.16.840.1.101.3.4.2.1', '0.9.2342.19200300.100.1.25', '2.999.1', '1.2.840.10045.4.3.2']) {
    test(dotted, () => assert.equal(oidOf(dotted), dotted));
  }
  test('refuses a truncated arc and a non-minimal arc', () => {
    assert.throws(() => decodeOid(der([0x06, 0x02, 0x55, 0x81]), { tag: 0x06, start: 0, contentStart: 2, end: 4 }));
    assert.throws(() => decodeOid(der([0x06, 0x03, 0x55, 0x80, 0x01]), { tag: 0x06, start: 0, contentStart: 2, end: 5 }));
  });
});

describe('extension values agree with the schema parser', () => {
  const serialize = (value: object): Buffer => Buffer.from(AsnConvert.serialize(value));

  for (const [name, value] of [
    ['CA:TRUE with a path length', new BasicConstraints({ cA: true, pathLenConstraint: 0 })],
    ['CA:TRUE', new BasicConstraints({ cA: true })],
    ['empty (CA:FALSE by default)', new BasicConstraints()],
  ] as const) {
    test(`basicConstraints ${name}`, () => {
      const encoded = serialize(value);
      assert.equal(decodeBasicConstraints(encoded).isCa, AsnConvert.parse(encoded, BasicConstraints).cA);
    });
  }

  test('keyUsage: every single bit and a few combinations, as numbered by RFC 5280', () => {
    const flags = [KeyUsageFlags.digitalSignature, KeyUsageFlags.nonRepudiation, KeyUsageFlags.keyEncipherment, KeyUsageFlags.dataEncipherment,
      KeyUsageFlags.keyAgreement, KeyUsageFlags.keyCertSign, KeyUsageFlags.cRLSign, KeyUsageFlags.encipherOnly, KeyUsageFlags.decipherOnly];
    const cases = [...flags, KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment | KeyUsageFlags.decipherOnly];
    for (const bits of cases) {
      const encoded = serialize(new KeyUsage(bits));
      const isSet = decodeKeyUsage(encoded);
      const parsed = AsnConvert.parse(encoded, KeyUsage).toNumber();
      for (let bit = 0; bit < 9; bit++) assert.equal(isSet(bit), (parsed & (1 << bit)) !== 0, `flags ${bits}, bit ${bit}`);
    }
  });

  test('subjectKeyIdentifier and authorityKeyIdentifier', () => {
    const id = Buffer.from('00112233445566778899aabbccddeeff00112233', 'hex');
    assert.deepEqual(decodeSubjectKeyIdentifier(serialize(new SubjectKeyIdentifier(id))), id);
    assert.deepEqual(decodeAuthorityKeyIdentifier(serialize(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(id) }))), id);
    assert.equal(decodeAuthorityKeyIdentifier(serialize(new AuthorityKeyIdentifier({}))), undefined);
  });

  test('malformed values throw', () => {
    assert.throws(() => decodeBasicConstraints(der([0x30, 0x03, 0x01, 0x01, 0xff, 0x00])), /bytes after/);
    assert.throws(() => decodeBasicConstraints(der([0x30, 0x03, 0x04, 0x01, 0xff])), /unexpected elements/);
    assert.throws(() => decodeKeyUsage(der([0x03, 0x00])), /invalid BIT STRING/);
    assert.throws(() => decodeKeyUsage(der([0x03, 0x02, 0x08, 0x80])), /invalid BIT STRING/);
    assert.throws(() => decodeAuthorityKeyIdentifier(der([0x30, 0x03, 0x04, 0x01, 0x00])), /unexpected element/);
  });
});
