// A minimal DER reader: enough to split a certificate into the parts that are then parsed with
// @peculiar/asn1-x509, so the connect path does not run a schema parser over the whole
// certificate (public key, signature, validity) on every connection. Strict: definite lengths only,
// single-byte tags, every element inside its container.

export interface DerElement {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

export const DER_BOOLEAN = 0x01;
export const DER_INTEGER = 0x02;
export const DER_BIT_STRING = 0x03;
export const DER_OCTET_STRING = 0x04;
export const DER_OBJECT_IDENTIFIER = 0x06;
export const DER_SEQUENCE = 0x30;

export const readDerElement = (der: Uint8Array, offset: number, limit: number): DerElement => {
  if (offset + 2 > limit) throw new Error('truncated DER element');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte DER tags are not used in X.509');
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    // 0 is BER's indefinite length, which DER forbids; 4 bytes already allow 4 GiB.
    if (count === 0 || count > 4 || contentStart + count > limit) throw new Error('invalid DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new Error('DER element overruns its container');
  return { tag, start: offset, contentStart, end };
};

/** The children of a constructed element, in order. */
export const readDerChildren = (der: Uint8Array, parent: DerElement): DerElement[] => {
  const children: DerElement[] = [];
  for (let offset = parent.contentStart; offset < parent.end;) {
    const child = readDerElement(der, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
};

export const derBytes = (der: Buffer, element: DerElement): Buffer => der.subarray(element.start, element.end);

/** Dotted form of an OBJECT IDENTIFIER's content (X.690 §8.19). */
export const decodeOid = (der: Uint8Array, element: DerElement): string => {
  if (element.tag !== DER_OBJECT_IDENTIFIER || element.end === element.contentStart) throw new Error('not an OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  for (let i = element.contentStart; i < element.end; i++) {
    const byte = der[i]!;
    if (value === 0 && byte === 0x80) throw new Error('OBJECT IDENTIFIER: non-minimal arc');
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new Error('OBJECT IDENTIFIER: arc too large');
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 40 ? 0 : value < 80 ? 1 : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  if (der[element.end - 1]! & 0x80) throw new Error('OBJECT IDENTIFIER: truncated arc');
  return arcs.join('.');
};

// RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }, and
// TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity,
// subject, subjectPublicKeyInfo, [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions }.
export interface CertificateParts {
  /** The signed part, as encoded: what identifies the certificate whatever its signature's encoding. */
  readonly tbsCertificate: Buffer;
  /** 0 (v1), 1 (v2) or 2 (v3), as encoded. */
  readonly versionNumber: number;
  /** The serialNumber INTEGER's content octets, as encoded (two's complement, big-endian). */
  readonly serialNumber: Buffer;
  readonly subject: Buffer;
  readonly subjectPublicKeyInfo: Buffer;
  readonly extensions: readonly CertificateExtension[];
  readonly signatureAlgorithm: { readonly oid: string; readonly parameters: Buffer | undefined };
  /** The signatureValue BIT STRING's content octets (the unused-bits octet first). */
  readonly signatureValue: Buffer;
}

// Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
export interface CertificateExtension {
  readonly oid: string;
  readonly isCritical: boolean;
  /** The content of extnValue: the extension's own DER. */
  readonly value: Buffer;
}

const readExtension = (der: Buffer, element: DerElement): CertificateExtension => {
  const [id, second, third, ...extra] = readDerChildren(der, expectTag(element, DER_SEQUENCE, 'Extension'));
  const value = third ?? second;
  if (extra.length > 0 || !id || !value) throw new Error('Extension: wrong number of elements');
  let isCritical = false;
  if (third) {
    // DER encodes TRUE as 0xff and leaves a FALSE default out.
    expectTag(second, DER_BOOLEAN, 'Extension.critical');
    if (second!.end - second!.contentStart !== 1 || der[second!.contentStart] !== 0xff) throw new Error('Extension.critical: not DER TRUE');
    isCritical = true;
  }
  expectTag(value, DER_OCTET_STRING, 'Extension.extnValue');
  return { oid: decodeOid(der, id), isCritical, value: der.subarray(value.contentStart, value.end) };
};

const readAlgorithmIdentifier = (der: Buffer, element: DerElement): CertificateParts['signatureAlgorithm'] => {
  const [algorithm, parameters, ...extra] = readDerChildren(der, element);
  if (!algorithm || extra.length > 0) throw new Error('AlgorithmIdentifier: wrong number of elements');
  return { oid: decodeOid(der, algorithm), parameters: parameters && derBytes(der, parameters) };
};

const expectTag = (element: DerElement | undefined, tag: number, what: string): DerElement => {
  if (element?.tag !== tag) throw new Error(`${what}: unexpected DER tag`);
  return element;
};

export const splitCertificate = (der: Buffer): CertificateParts => {
  const certificate = expectTag(readDerElement(der, 0, der.length), DER_SEQUENCE, 'Certificate');
  if (certificate.end !== der.length) throw new Error('bytes after the certificate');
  const [tbs, signatureAlgorithm, signatureValue, ...rest] = readDerChildren(der, certificate);
  expectTag(tbs, DER_SEQUENCE, 'tbsCertificate');
  expectTag(signatureAlgorithm, DER_SEQUENCE, 'signatureAlgorithm');
  expectTag(signatureValue, 0x03, 'signatureValue');
  if (rest.length > 0) throw new Error('Certificate: extra elements');
  const fields = readDerChildren(der, tbs!);
  let next = 0;
  let versionNumber = 0;
  if (fields[0]?.tag === 0xa0) {
    const [version, ...extra] = readDerChildren(der, fields[0]);
    expectTag(version, DER_INTEGER, 'version');
    if (extra.length > 0 || version!.end - version!.contentStart !== 1) throw new Error('version: not a small INTEGER');
    versionNumber = der[version!.contentStart]!;
    next = 1;
  }
  const serialNumber = expectTag(fields[next], DER_INTEGER, 'serialNumber');
  expectTag(fields[next + 1], DER_SEQUENCE, 'signature');
  expectTag(fields[next + 2], DER_SEQUENCE, 'issuer');
  expectTag(fields[next + 3], DER_SEQUENCE, 'validity');
  const subject = expectTag(fields[next + 4], DER_SEQUENCE, 'subject');
  const spki = expectTag(fields[next + 5], DER_SEQUENCE, 'subjectPublicKeyInfo');
  let extensions: CertificateExtension[] = [];
  let lastTag = 0;
  for (const field of fields.slice(next + 6)) {
    // [1] issuerUniqueID and [2] subjectUniqueID (implicit BIT STRINGs, primitive or constructed), then [3].
    const number = field.tag & 0x1f;
    if ((field.tag & 0xc0) !== 0x80 || number < 1 || number > 3 || number <= lastTag) throw new Error('tbsCertificate: unexpected field');
    lastTag = number;
    if (number === 3) {
      if (field.tag !== 0xa3) throw new Error('extensions: not constructed');
      const [sequence, ...extra] = readDerChildren(der, field);
      if (extra.length > 0) throw new Error('extensions: extra elements');
      extensions = readDerChildren(der, expectTag(sequence, DER_SEQUENCE, 'extensions')).map((element) => readExtension(der, element));
    }
  }
  return {
    tbsCertificate: derBytes(der, tbs!), versionNumber, serialNumber: der.subarray(serialNumber.contentStart, serialNumber.end), subject: derBytes(der, subject), subjectPublicKeyInfo: derBytes(der, spki),
    extensions, signatureAlgorithm: readAlgorithmIdentifier(der, signatureAlgorithm!), signatureValue: der.subarray(signatureValue!.contentStart, signatureValue!.end),
  };
};

// The extension values the admission rules read, decoded here rather than through the schema
// parser (RFC 5280 §4.2.1). Each value must be exactly one element.
const readWhole = (value: Buffer, tag: number, what: string): DerElement => {
  const element = expectTag(readDerElement(value, 0, value.length), tag, what);
  if (element.end !== value.length) throw new Error(`${what}: bytes after the value`);
  return element;
};

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } */
export const decodeBasicConstraints = (value: Buffer): { readonly isCa: boolean } => {
  const children = readDerChildren(value, readWhole(value, DER_SEQUENCE, 'basicConstraints'));
  let isCa = false;
  let next = 0;
  if (children[0]?.tag === DER_BOOLEAN) {
    const flag = children[0];
    if (flag.end - flag.contentStart !== 1) throw new Error('basicConstraints.cA: not a BOOLEAN');
    isCa = value[flag.contentStart] !== 0;
    next = 1;
  }
  if (children[next]?.tag === DER_INTEGER) next += 1;
  if (next !== children.length) throw new Error('basicConstraints: unexpected elements');
  return { isCa };
};

/** KeyUsage ::= BIT STRING; answers whether named bit `bit` (0 = digitalSignature) is set. */
export const decodeKeyUsage = (value: Buffer): ((bit: number) => boolean) => {
  const element = readWhole(value, DER_BIT_STRING, 'keyUsage');
  const length = element.end - element.contentStart;
  const unusedBits = value[element.contentStart];
  if (length === 0 || unusedBits === undefined || unusedBits > 7 || (length === 1 && unusedBits !== 0)) throw new Error('keyUsage: invalid BIT STRING');
  const bitCount = (length - 1) * 8 - unusedBits;
  return (bit) => bit < bitCount && (value[element.contentStart + 1 + (bit >> 3)]! & (0x80 >> (bit & 7))) !== 0;
};

/** SubjectKeyIdentifier ::= OCTET STRING */
export const decodeSubjectKeyIdentifier = (value: Buffer): Buffer => {
  const element = readWhole(value, DER_OCTET_STRING, 'subjectKeyIdentifier');
  return value.subarray(element.contentStart, element.end);
};

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, [1] ..., [2] ... } */
export const decodeAuthorityKeyIdentifier = (value: Buffer): Buffer | undefined => {
  let lastNumber = -1;
  let keyIdentifier: Buffer | undefined;
  for (const child of readDerChildren(value, readWhole(value, DER_SEQUENCE, 'authorityKeyIdentifier'))) {
    const number = child.tag & 0x1f;
    if ((child.tag & 0xc0) !== 0x80 || number > 2 || number <= lastNumber) throw new Error('authorityKeyIdentifier: unexpected element');
    lastNumber = number;
    if (number === 0) {
      if (child.tag !== 0x80) throw new Error('authorityKeyIdentifier.keyIdentifier: not primitive');
      keyIdentifier = value.subarray(child.contentStart, child.end);
    }
  }
  return keyIdentifier;
};

const COMMON_NAME_OID = Buffer.from([0x55, 0x04, 0x03]); // 2.5.4.3
const DER_UTF8_STRING = 0x0c;
const DER_PRINTABLE_STRING = 0x13;
const SET_OF = 0x31;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The subject's CN values in order, for the two string types nearly every certificate uses
 *  (UTF8String, PrintableString); undefined when a CN has another type: the caller then asks the
 *  schema parser, so that rarer strings decode exactly as before. */
export const readCommonNamesFast = (subject: Buffer): string[] | undefined => {
  const names: string[] = [];
  for (const rdn of readDerChildren(subject, readWhole(subject, DER_SEQUENCE, 'Name'))) {
    for (const attribute of readDerChildren(subject, expectTag(rdn, SET_OF, 'RelativeDistinguishedName'))) {
      const [type, value, ...extra] = readDerChildren(subject, expectTag(attribute, DER_SEQUENCE, 'AttributeTypeAndValue'));
      if (!type || !value || extra.length > 0) throw new Error('AttributeTypeAndValue: wrong number of elements');
      expectTag(type, DER_OBJECT_IDENTIFIER, 'AttributeTypeAndValue.type');
      if (!COMMON_NAME_OID.equals(subject.subarray(type.contentStart, type.end))) continue;
      const content = subject.subarray(value.contentStart, value.end);
      if (value.tag === DER_PRINTABLE_STRING) {
        names.push(content.toString('latin1'));
      } else if (value.tag === DER_UTF8_STRING) {
        try {
          names.push(strictUtf8.decode(content));
        } catch {
          return undefined; // not UTF-8: the schema parser keeps the raw bytes
        }
      } else {
        return undefined;
      }
    }
  }
  return names;
};

/** A serial number as lowercase hex without leading zeros ("0" for zero): one spelling for the
 *  same number, whichever printer or encoder produced it (RFC 5280 §4.1.2.2 compares integers). */
export const normalizeSerialHex = (hex: string): string => hex.toLowerCase().replace(/^0+(?=.)/, '');

// Strict DER (X.690 §10-11), so one certificate has exactly one encoding and one fingerprint:
// OpenSSL and the splitter above accept a length in more octets than needed, and OpenSSL keeps the
// bytes as they came, so re-encoding a length outside the signed part (no key needed) would make a
// second certificate out of one. Walked without allocating: each element is checked and its
// constructed content walked in place; a violation throws (rare) and becomes the answer.
class NotDer extends Error {}

const walkStrictDer = (der: Uint8Array, start: number, limit: number): void => {
  for (let offset = start; offset < limit;) {
    const tag = der[offset]!;
    if ((tag & 0x1f) === 0x1f) throw new NotDer('a multi-byte tag');
    if (offset + 2 > limit) throw new NotDer('a truncated element');
    let length = der[offset + 1]!;
    let content = offset + 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0) throw new NotDer('an indefinite length (BER, not DER)');
      if (count > 4 || content + count > limit) throw new NotDer('a length that overruns its container');
      // X.690 §10.1: the definite form in the fewest octets.
      if (der[content] === 0) throw new NotDer('a length written with a leading zero octet');
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + der[content + i]!;
      if (length < 0x80) throw new NotDer('a length below 128 written in the long form');
      content += count;
    }
    const end = content + length;
    if (end > limit) throw new NotDer('an element that overruns its container');
    if (tag & 0x20) {
      // X.690 §10.2: strings are primitive in DER; of the universal types only SEQUENCE and SET are constructed.
      if ((tag & 0xc0) === 0 && tag !== DER_SEQUENCE && tag !== 0x31) throw new NotDer('a constructed string');
      walkStrictDer(der, content, end);
    } else if (tag === DER_INTEGER) {
      // X.690 §8.3.2: the fewest octets (no redundant leading 0x00 or 0xff).
      if (length === 0) throw new NotDer('an empty INTEGER');
      const first = der[content]!;
      if (length > 1 && ((first === 0x00 && (der[content + 1]! & 0x80) === 0) || (first === 0xff && (der[content + 1]! & 0x80) !== 0))) {
        throw new NotDer('an INTEGER with a redundant leading octet');
      }
    } else if (tag === DER_BOOLEAN) {
      // X.690 §11.1: TRUE is 0xff.
      if (length !== 1 || (der[content] !== 0x00 && der[content] !== 0xff)) throw new NotDer('a BOOLEAN that is not 0x00 or 0xff');
    }
    offset = end;
  }
};

const ECDSA_SIGNATURE_OID_PREFIX = '1.2.840.10045.4.';
const RSA_ENCRYPTION_OID = Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]); // 1.2.840.113549.1.1.1

/** Undefined when the whole certificate is strict DER, including the DER inside it (every
 *  extension value, an ECDSA signature's Ecdsa-Sig-Value, an RSA key's RSAPublicKey); else what
 *  is not, in words. */
export const findNonDerEncoding = (der: Buffer, parts: CertificateParts): string | undefined => {
  let where = 'the certificate';
  try {
    walkStrictDer(der, 0, der.length);
    for (const extension of parts.extensions) {
      where = `the value of extension ${extension.oid}`;
      if (extension.value.length === 0) throw new NotDer('an empty value');
      walkStrictDer(extension.value, 0, extension.value.length);
    }
    // RFC 3279 §2.2.3: the ECDSA signature is a DER Ecdsa-Sig-Value inside the BIT STRING; its
    // INTEGERs are outside the signed part, so a second encoding needs no key.
    if (parts.signatureAlgorithm.oid.startsWith(ECDSA_SIGNATURE_OID_PREFIX)) {
      where = 'the ECDSA signature value';
      if (parts.signatureValue[0] !== 0) throw new NotDer('unused bits in the signature BIT STRING');
      walkStrictDer(parts.signatureValue, 1, parts.signatureValue.length);
    }
    const spki = readWhole(parts.subjectPublicKeyInfo, DER_SEQUENCE, 'subjectPublicKeyInfo');
    const [algorithm, key] = readDerChildren(parts.subjectPublicKeyInfo, spki);
    const oid = algorithm && readDerChildren(parts.subjectPublicKeyInfo, algorithm)[0];
    if (oid && key?.tag === DER_BIT_STRING && RSA_ENCRYPTION_OID.equals(parts.subjectPublicKeyInfo.subarray(oid.contentStart, oid.end))) {
      where = 'the RSA public key';
      walkStrictDer(parts.subjectPublicKeyInfo, key.contentStart + 1, key.end);
    }
    return undefined;
  } catch (error) {
    if (error instanceof NotDer) return `${where} has ${error.message}`;
    throw error;
  }
};
