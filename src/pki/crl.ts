import { constants, verify as verifySignature, X509Certificate } from 'node:crypto';
import { DomainError } from '../shared/index.ts';
import {
  decodeOid, derBytes, DER_BIT_STRING, DER_INTEGER, DER_OBJECT_IDENTIFIER, DER_OCTET_STRING, DER_SEQUENCE, normalizeSerialHex,
  readDerChildren, readDerElement, type DerElement,
} from './der.ts';
import { containsPrivateKey } from './pem.ts';
import { isStrongHash, signatureHash, type HashName } from './signature-hash.ts';

// Certificate revocation lists (RFC 5280 §5) a tenant's own PKI made (`openssl ca -gencrl`), and
// serial numbers as people copy them from OpenSSL's output.

/** RFC 5280 §5.3.1 reason names (CRLReason), as a revocation's `reason` field carries them. */
export const REVOCATION_REASONS = [
  'unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation',
  'certificateHold', 'removeFromCRL', 'privilegeWithdrawn', 'aACompromise',
] as const;
export type RevocationReason = typeof REVOCATION_REASONS[number];

const REASON_BY_CODE: Readonly<Record<number, RevocationReason>> = {
  0: 'unspecified', 1: 'keyCompromise', 2: 'cACompromise', 3: 'affiliationChanged', 4: 'superseded', 5: 'cessationOfOperation',
  6: 'certificateHold', 8: 'removeFromCRL', 9: 'privilegeWithdrawn', 10: 'aACompromise',
};

/** RFC 5280 §4.1.2.2: at most 20 octets. */
const MAX_SERIAL_HEX = 40;

/**
 * A serial number as OpenSSL prints it, in any of its forms: `0A1B2C` (`x509 -serial`),
 * `0a:1b:2c` (`x509 -text`), `0x1000` (the parenthesised form of a small one), any case, leading
 * zeros or not. Answers the normalised form every comparison uses (lowercase hex, no leading
 * zeros: normalizeSerialHex), or undefined for anything else, so two spellings of one serial can
 * never be two entries.
 */
export const parseSerialNumberText = (text: string): string | undefined => {
  const trimmed = text.trim();
  let hex: string;
  if (trimmed.includes(':')) {
    if (!/^[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{2})*$/.test(trimmed)) return undefined;
    hex = trimmed.replaceAll(':', '');
  } else {
    const match = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(trimmed);
    if (!match) return undefined;
    hex = match[1]!;
  }
  const serial = normalizeSerialHex(hex);
  return serial.length > MAX_SERIAL_HEX ? undefined : serial;
};

export interface CrlEntry {
  /** Normalised (normalizeSerialHex). */
  readonly serialNumber: string;
  readonly reason: RevocationReason;
  readonly revokedAt: Date;
}

export interface ParsedCrl {
  /** DER of the issuer Name, compared byte for byte with the CA's subject. */
  readonly issuerDer: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** The cRLNumber extension (RFC 5280 §5.2.3), normalised hex; undefined when absent. */
  readonly crlNumber: string | undefined;
  readonly entries: readonly CrlEntry[];
  readonly tbsCertList: Buffer;
  readonly signatureAlgorithm: { readonly oid: string; readonly parameters: Buffer | undefined };
  readonly signatureValue: Buffer;
}

// Read with the minimal DER reader (der.ts), not @peculiar/x509's X509Crl: its schema parser took
// 1.5-3 s for 10,000 entries, this takes milliseconds. RFC 5280 §5.1:
// CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
// TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature, issuer Name, thisUpdate Time,
//   nextUpdate Time OPTIONAL, revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER,
//   revocationDate Time, crlEntryExtensions Extensions OPTIONAL } OPTIONAL, [0] crlExtensions }

const CRL_NUMBER_OID = '2.5.29.20';
const REASON_CODE_OID = '2.5.29.21';
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const ENUMERATED = 0x0a;

const invalid = (message: string, cause?: unknown): DomainError =>
  new DomainError('crl.invalid', `${message} Send the PEM block "-----BEGIN X509 CRL-----" that e.g. "openssl ca -gencrl -out crl.pem" writes.`, { cause });

const expect = (element: DerElement | undefined, tag: number, what: string): DerElement => {
  if (element?.tag !== tag) throw new Error(`${what}: unexpected DER tag`);
  return element;
};

/** RFC 5280 §4.1.2.5.1/2: YYMMDDHHMMSSZ (50-99 → 19xx) or YYYYMMDDHHMMSSZ. */
const readTime = (der: Buffer, element: DerElement | undefined, what: string): Date => {
  if (element?.tag !== UTC_TIME && element?.tag !== GENERALIZED_TIME) throw new Error(`${what}: not a Time`);
  const text = der.subarray(element.contentStart, element.end).toString('latin1');
  const match = element.tag === UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) throw new Error(`${what}: malformed time ${JSON.stringify(text.slice(0, 20))}`);
  const year = element.tag === UTC_TIME ? (Number(match[1]) >= 50 ? 1900 : 2000) + Number(match[1]) : Number(match[1]);
  const date = new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])));
  if (Number.isNaN(date.getTime())) throw new Error(`${what}: invalid date`);
  return date;
};

const integerHex = (der: Buffer, element: DerElement, what: string): string => {
  const length = element.end - element.contentStart;
  if (element.tag !== DER_INTEGER || length === 0 || length > 21) throw new Error(`${what}: not an INTEGER of at most 20 octets`);
  return normalizeSerialHex(der.subarray(element.contentStart, element.end).toString('hex'));
};

/** Extensions ::= SEQUENCE OF SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
const readExtensions = (der: Buffer, sequence: DerElement): Map<string, DerElement> => {
  const extensions = new Map<string, DerElement>();
  for (const extension of readDerChildren(der, expect(sequence, DER_SEQUENCE, 'Extensions'))) {
    const children = readDerChildren(der, expect(extension, DER_SEQUENCE, 'Extension'));
    const oid = decodeOid(der, expect(children[0], DER_OBJECT_IDENTIFIER, 'extnID'));
    const value = expect(children[children.length - 1], DER_OCTET_STRING, 'extnValue');
    if (extensions.has(oid)) throw new Error(`extension ${oid} appears twice`);
    extensions.set(oid, readDerElement(der, value.contentStart, value.end));
  }
  return extensions;
};

const readEntry = (der: Buffer, element: DerElement): CrlEntry => {
  const [serial, date, extensions, ...extra] = readDerChildren(der, expect(element, DER_SEQUENCE, 'revoked entry'));
  if (extra.length > 0) throw new Error('revoked entry: extra elements');
  let reason: RevocationReason = 'unspecified';
  if (extensions) {
    const code = readExtensions(der, extensions).get(REASON_CODE_OID);
    if (code) reason = REASON_BY_CODE[expect(code, ENUMERATED, 'reasonCode').end - code.contentStart === 1 ? der[code.contentStart]! : -1] ?? 'unspecified';
  }
  return { serialNumber: integerHex(der, serial ?? expect(serial, DER_INTEGER, 'userCertificate'), 'userCertificate'), reason, revokedAt: readTime(der, date, 'revocationDate') };
};

const pemBody = (pem: string): Buffer => {
  const blocks = pem.match(/-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g) ?? [];
  if (blocks.length !== 1) throw invalid(blocks.length === 0 ? 'The crl field holds no PEM CRL.' : 'The crl field holds more than one CRL.');
  const base64 = blocks[0]!.replace(/-----(BEGIN|END) X509 CRL-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length === 0) throw invalid('The CRL\'s PEM body is not base64.');
  return Buffer.from(base64, 'base64');
};

/** Reads one PEM CRL; entries with their normalised serial numbers. Throws crl.invalid. */
export const parseCrlPem = (pem: string): ParsedCrl => {
  if (containsPrivateKey(pem)) throw new DomainError('pem.privateKeyIncluded', 'The crl field contains a private key; send only the CRL.');
  const der = pemBody(pem);
  try {
    const list = expect(readDerElement(der, 0, der.length), DER_SEQUENCE, 'CertificateList');
    if (list.end !== der.length) throw new Error('bytes after the CRL');
    const [tbs, algorithm, signature, ...rest] = readDerChildren(der, list);
    if (rest.length > 0) throw new Error('CertificateList: extra elements');
    const fields = readDerChildren(der, expect(tbs, DER_SEQUENCE, 'tbsCertList'));
    let next = fields[0]?.tag === DER_INTEGER ? 1 : 0;
    const innerAlgorithm = expect(fields[next], DER_SEQUENCE, 'signature');
    const issuer = expect(fields[next + 1], DER_SEQUENCE, 'issuer');
    const thisUpdate = readTime(der, fields[next + 2], 'thisUpdate');
    next += 3;
    let nextUpdate: Date | undefined;
    if (fields[next]?.tag === UTC_TIME || fields[next]?.tag === GENERALIZED_TIME) nextUpdate = readTime(der, fields[next++], 'nextUpdate');
    let entries: CrlEntry[] = [];
    if (fields[next]?.tag === DER_SEQUENCE) entries = readDerChildren(der, fields[next++]!).map((entry) => readEntry(der, entry));
    let crlNumber: string | undefined;
    if (fields[next]?.tag === 0xa0) {
      const [sequence, ...extra] = readDerChildren(der, fields[next++]!);
      if (extra.length > 0 || !sequence) throw new Error('crlExtensions: malformed');
      const number = readExtensions(der, sequence).get(CRL_NUMBER_OID);
      if (number) crlNumber = integerHex(der, number, 'cRLNumber');
    }
    if (next !== fields.length) throw new Error('tbsCertList: unexpected field');
    const [oid, parameters, ...extraAlgorithm] = readDerChildren(der, expect(algorithm, DER_SEQUENCE, 'signatureAlgorithm'));
    // RFC 5280 §5.1.1.2: the signed tbsCertList.signature MUST equal signatureAlgorithm.
    if (!derBytes(der, innerAlgorithm).equals(derBytes(der, algorithm!))) throw new Error('signatureAlgorithm differs from tbsCertList.signature');
    if (extraAlgorithm.length > 0) throw new Error('signatureAlgorithm: extra elements');
    const signatureValue = expect(signature, DER_BIT_STRING, 'signatureValue');
    if (der[signatureValue.contentStart] !== 0) throw new Error('signatureValue: unused bits');
    return {
      issuerDer: derBytes(der, issuer), thisUpdate, nextUpdate, crlNumber, entries,
      tbsCertList: derBytes(der, tbs!),
      signatureAlgorithm: { oid: decodeOid(der, expect(oid, DER_OBJECT_IDENTIFIER, 'algorithm')), parameters: parameters && derBytes(der, parameters) },
      signatureValue: der.subarray(signatureValue.contentStart + 1, signatureValue.end),
    };
  } catch (cause) {
    throw invalid(`The CRL cannot be read (${cause instanceof Error ? cause.message : String(cause)}).`, cause);
  }
};

/** DER of a certificate's subject Name, as a CRL's issuer must equal it. */
export const subjectNameDer = (certificatePem: string): Buffer => {
  const der = new X509Certificate(certificatePem).raw;
  const certificate = readDerElement(der, 0, der.length);
  const tbsFields = readDerChildren(der, readDerChildren(der, certificate)[0]!);
  const offset = tbsFields[0]?.tag === 0xa0 ? 1 : 0;
  return derBytes(der, tbsFields[offset + 4]!);
};

const ED25519 = '1.3.101.112';
const RSASSA_PSS = '1.2.840.113549.1.1.10';

/** Whether the CA certificate's key signed the CRL, with a hash of at least SHA-256. */
export const isCrlSignedBy = (crl: ParsedCrl, caCertificatePem: string): boolean => {
  const { oid, parameters } = crl.signatureAlgorithm;
  try {
    const key = new X509Certificate(caCertificatePem).publicKey;
    if (oid === ED25519) return verifySignature(null, crl.tbsCertList, key, crl.signatureValue);
    const hash: HashName | undefined = signatureHash(oid, parameters);
    if (!isStrongHash(hash)) return false;
    const options = oid === RSASSA_PSS ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO } : key;
    return verifySignature(hash!, crl.tbsCertList, options, crl.signatureValue);
  } catch {
    return false;
  }
};
