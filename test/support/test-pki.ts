import 'reflect-metadata';
import { createHash, KeyObject, randomBytes, sign, webcrypto, X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier, AuthorityKeyIdentifier, BasicConstraints, Certificate, Extension, Extensions,
  ExtendedKeyUsage, KeyIdentifier, KeyUsage, KeyUsageFlags, Name, SubjectKeyIdentifier, SubjectPublicKeyInfo,
  TBSCertificate, Validity, Version, id_ce_authorityKeyIdentifier, id_ce_basicConstraints,
  id_ce_extKeyUsage, id_ce_keyUsage, id_ce_subjectKeyIdentifier, id_kp_clientAuth, id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import { Name as NameParser, Pkcs10CertificateRequestGenerator } from '@peculiar/x509';
import { derBytes, readDerChildren, readDerElement, type DerElement } from '../../src/pki/der.ts';

// Throwaway certificates for tests, minted in pure Node: the TBSCertificate is built with
// @peculiar/asn1-x509 and signed with node:crypto, so every knob a hostile upload can turn (true
// X.509 v1, SHA-1, missing or wrong extensions, a foreign signing key) is reachable.

type CryptoKey = webcrypto.CryptoKey;

export type TestKeyType = 'rsa1024' | 'rsa2048' | 'p256' | 'p384' | 'p521' | 'ed25519';
export type TestHash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';
export type TestKeyUsage = 'digitalSignature' | 'keyCertSign' | 'cRLSign' | 'keyEncipherment';

export interface TestKeyPair {
  readonly keyType: TestKeyType;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

export interface TestCertificate extends TestKeyPair {
  readonly certificatePem: string;
  readonly certificateDer: Buffer;
  readonly privateKeyPem: string; // PKCS#8
  readonly subject: string; // as given, e.g. 'CN=acme-ca,O=Acme'
}

export interface TestCertificateOptions {
  subject?: string; // default 'CN=Test CA <random>' (createCa) or 'CN=test-<random>' (issueCertificate)
  keyType?: TestKeyType; // default 'p256'; ignored when keyPair is given
  keyPair?: TestKeyPair; // reuse a key (RSA generation is slow); default: a fresh one
  notBefore?: Date; // default now - 1 h
  notAfter?: Date; // default now + 365 d
  version?: 1 | 3; // default 3; 1 = true v1 DER (no version field, no extensions)
  basicConstraints?: { ca: boolean; critical?: boolean } | null; // null = omit
  keyUsage?: TestKeyUsage[] | null; // null = omit
  hash?: TestHash; // signature hash, default SHA-256; ignored for Ed25519
  extendedKeyUsage?: 'clientAuth' | 'serverAuth' | null;
  serialNumber?: string; // hex
}

export interface IssueOptions extends TestCertificateOptions {
  // Sign with this certificate's key instead of the issuer's; the issuer name (and AKI) still
  // come from `issuer`. Makes "names the CA but was signed by another key".
  signWith?: TestCertificate | TestKeyPair;
}

const KEY_GENERATION: Record<TestKeyType, webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm> = {
  rsa1024: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  rsa2048: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  p256: { name: 'ECDSA', namedCurve: 'P-256' },
  p384: { name: 'ECDSA', namedCurve: 'P-384' },
  p521: { name: 'ECDSA', namedCurve: 'P-521' },
  ed25519: { name: 'Ed25519' },
};

export const generateTestKeyPair = async (keyType: TestKeyType = 'p256'): Promise<TestKeyPair> => {
  const pair = await webcrypto.subtle.generateKey(KEY_GENERATION[keyType], true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  return { keyType, privateKey: pair.privateKey, publicKey: pair.publicKey };
};

// One key per type for the whole test process, for tests that need many certificates but not
// distinct keys (RSA generation costs tens of milliseconds). Never use it where two certificates
// must have different keys.
const sharedKeyPairs = new Map<TestKeyType, Promise<TestKeyPair>>();
export const sharedTestKeyPair = (keyType: TestKeyType = 'p256'): Promise<TestKeyPair> => {
  let pair = sharedKeyPairs.get(keyType);
  if (!pair) sharedKeyPairs.set(keyType, pair = generateTestKeyPair(keyType));
  return pair;
};

// Signature AlgorithmIdentifiers (RFC 3279, RFC 4055, RFC 5758, RFC 8410). RSA carries an explicit
// NULL parameter; ECDSA and Ed25519 carry none.
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;
const RSA_OIDS: Record<TestHash, string> = {
  'SHA-1': '1.2.840.113549.1.1.5',
  'SHA-256': '1.2.840.113549.1.1.11',
  'SHA-384': '1.2.840.113549.1.1.12',
  'SHA-512': '1.2.840.113549.1.1.13',
};
const ECDSA_OIDS: Record<TestHash, string> = {
  'SHA-1': '1.2.840.10045.4.1',
  'SHA-256': '1.2.840.10045.4.3.2',
  'SHA-384': '1.2.840.10045.4.3.3',
  'SHA-512': '1.2.840.10045.4.3.4',
};
const NODE_HASH: Record<TestHash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

const signatureAlgorithm = (keyType: TestKeyType, hash: TestHash): AlgorithmIdentifier => {
  if (keyType === 'ed25519') return new AlgorithmIdentifier({ algorithm: '1.3.101.112' });
  if (keyType.startsWith('rsa')) return new AlgorithmIdentifier({ algorithm: RSA_OIDS[hash], parameters: DER_NULL });
  return new AlgorithmIdentifier({ algorithm: ECDSA_OIDS[hash] });
};

const signTbs = (tbsDer: ArrayBuffer, signer: TestKeyPair, hash: TestHash): Buffer =>
  // node:crypto emits DER-encoded ECDSA signatures and PKCS#1 v1.5 for RSA, as X.509 wants.
  sign(signer.keyType === 'ed25519' ? null : NODE_HASH[hash], Buffer.from(tbsDer), KeyObject.from(signer.privateKey));

const spkiOf = (key: CryptoKey): SubjectPublicKeyInfo =>
  AsnConvert.parse(KeyObject.from(key).export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);

// RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value.
const keyIdentifierOf = (spki: SubjectPublicKeyInfo): Buffer =>
  createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest();

const parseName = (subject: string): Name => AsnConvert.parse(new NameParser(subject).toArrayBuffer(), Name);

const serialBytes = (hex: string | undefined): ArrayBuffer => {
  let bytes = hex === undefined ? randomBytes(16) : Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  if (hex === undefined) bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, no leading zero
  else if ((bytes[0] ?? 0x80) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]); // keep it positive
  return new Uint8Array(bytes).buffer;
};

const KEY_USAGE_FLAGS: Record<TestKeyUsage, number> = {
  digitalSignature: KeyUsageFlags.digitalSignature,
  keyEncipherment: KeyUsageFlags.keyEncipherment,
  keyCertSign: KeyUsageFlags.keyCertSign,
  cRLSign: KeyUsageFlags.cRLSign,
};

const extension = (extnID: string, critical: boolean, value: unknown): Extension =>
  new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });

interface Defaults {
  readonly basicConstraints: TestCertificateOptions['basicConstraints'];
  readonly keyUsage: TestKeyUsage[];
}

const buildExtensions = (
  options: TestCertificateOptions, defaults: Defaults, subjectKeyId: Buffer, authorityKeyId: Buffer,
): Extension[] => {
  const extensions: Extension[] = [];
  const basicConstraints = options.basicConstraints === undefined ? defaults.basicConstraints : options.basicConstraints;
  if (basicConstraints) {
    extensions.push(extension(id_ce_basicConstraints, basicConstraints.critical ?? true, new BasicConstraints({ cA: basicConstraints.ca })));
  }
  const keyUsage = options.keyUsage === undefined ? defaults.keyUsage : options.keyUsage;
  if (keyUsage) {
    const flags = keyUsage.reduce((all, usage) => all | KEY_USAGE_FLAGS[usage], 0);
    extensions.push(extension(id_ce_keyUsage, true, new KeyUsage(flags)));
  }
  if (options.extendedKeyUsage) {
    const purpose = options.extendedKeyUsage === 'clientAuth' ? id_kp_clientAuth : id_kp_serverAuth;
    extensions.push(extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([purpose])));
  }
  extensions.push(extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(subjectKeyId)));
  extensions.push(extension(id_ce_authorityKeyIdentifier, false,
    new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyId) })));
  return extensions;
};

const HOUR_MS = 3_600_000;

interface MintInput {
  readonly options: TestCertificateOptions;
  readonly defaults: Defaults;
  readonly subject: string;
  readonly keyPair: TestKeyPair;
  readonly issuerName: Name | undefined; // undefined = self-issued
  readonly authorityKeyId: Buffer | undefined; // undefined = own SKI
  readonly signer: TestKeyPair;
}

const mint = async ({ options, defaults, subject, keyPair, issuerName, authorityKeyId, signer }: MintInput): Promise<TestCertificate> => {
  const hash = options.hash ?? 'SHA-256';
  const now = Date.now();
  const subjectName = parseName(subject);
  const spki = spkiOf(keyPair.publicKey);
  const subjectKeyId = keyIdentifierOf(spki);
  const algorithm = signatureAlgorithm(signer.keyType, hash);
  const tbs = new TBSCertificate({
    version: options.version === 1 ? Version.v1 : Version.v3,
    serialNumber: serialBytes(options.serialNumber),
    signature: algorithm,
    issuer: issuerName ?? subjectName,
    validity: new Validity({
      // Time drops milliseconds and switches to GeneralizedTime after 2049 (RFC 5280 §4.1.2.5).
      notBefore: options.notBefore ?? new Date(now - HOUR_MS),
      notAfter: options.notAfter ?? new Date(now + 365 * 24 * HOUR_MS),
    }),
    subject: subjectName,
    subjectPublicKeyInfo: spki,
  });
  if (options.version !== 1) {
    tbs.extensions = new Extensions(buildExtensions(options, defaults, subjectKeyId, authorityKeyId ?? subjectKeyId));
  }
  const signatureValue = signTbs(AsnConvert.serialize(tbs), signer, hash);
  const certificateDer = Buffer.from(AsnConvert.serialize(new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: algorithm,
    signatureValue: new Uint8Array(signatureValue).buffer,
  })));
  const x509 = new X509Certificate(certificateDer); // fail here, not in the test, if the DER is broken
  return {
    keyType: keyPair.keyType,
    privateKey: keyPair.privateKey,
    publicKey: keyPair.publicKey,
    certificateDer,
    certificatePem: x509.toString(),
    privateKeyPem: KeyObject.from(keyPair.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(),
    subject,
  };
};

const randomLabel = (): string => randomBytes(4).toString('hex');

// A self-signed CA: v3, basicConstraints critical CA:TRUE, keyUsage keyCertSign + cRLSign, SKI
// and AKI (= SKI, as openssl does) unless the options say otherwise.
export const createCa = async (options: TestCertificateOptions = {}): Promise<TestCertificate> => {
  const keyPair = options.keyPair ?? await generateTestKeyPair(options.keyType);
  return mint({
    options,
    defaults: { basicConstraints: { ca: true, critical: true }, keyUsage: ['keyCertSign', 'cRLSign'] },
    subject: options.subject ?? `CN=Test CA ${randomLabel()}`,
    keyPair,
    issuerName: undefined,
    authorityKeyId: undefined,
    signer: keyPair,
  });
};

// A certificate issued by `issuer` (a leaf by default; pass basicConstraints {ca: true} for an
// intermediate). Its AKI is the issuer's SKI, read from the issuer's DER.
export const issueCertificate = async (issuer: TestCertificate, options: IssueOptions = {}): Promise<TestCertificate> => {
  const keyPair = options.keyPair ?? await generateTestKeyPair(options.keyType);
  const issuerCertificate = AsnConvert.parse(issuer.certificateDer, Certificate);
  const issuerSki = issuerCertificate.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const authorityKeyId = issuerSki
    ? Buffer.from(AsnConvert.parse(issuerSki.extnValue.buffer, SubjectKeyIdentifier).buffer)
    : keyIdentifierOf(spkiOf(issuer.publicKey));
  return mint({
    options,
    defaults: { basicConstraints: null, keyUsage: ['digitalSignature'] },
    subject: options.subject ?? `CN=test-${randomLabel()}`,
    keyPair,
    issuerName: issuerCertificate.tbsCertificate.subject,
    authorityKeyId,
    signer: options.signWith ?? issuer,
  });
};

export interface TestCsr extends TestKeyPair {
  readonly csrPem: string;
  readonly privateKeyPem: string; // PKCS#8
}

const CSR_SIGNING: Record<TestKeyType, webcrypto.Algorithm | webcrypto.EcdsaParams> = {
  rsa1024: { name: 'RSASSA-PKCS1-v1_5' },
  rsa2048: { name: 'RSASSA-PKCS1-v1_5' },
  p256: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams,
  p384: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams,
  p521: { name: 'ECDSA', hash: 'SHA-512' } as webcrypto.EcdsaParams,
  ed25519: { name: 'Ed25519' },
};

// A PKCS#10 request, e.g. the verification CSR ("openssl req -new -subj /CN=<registration code>").
export const createCsr = async (options: { subject?: string; keyType?: TestKeyType; keyPair?: TestKeyPair } = {}): Promise<TestCsr> => {
  const keyPair = options.keyPair ?? await generateTestKeyPair(options.keyType);
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: options.subject ?? `CN=test-${randomLabel()}`,
    keys: { privateKey: keyPair.privateKey, publicKey: keyPair.publicKey },
    signingAlgorithm: CSR_SIGNING[keyPair.keyType],
  }, webcrypto as unknown as Parameters<typeof Pkcs10CertificateRequestGenerator.create>[1]);
  return {
    keyType: keyPair.keyType,
    privateKey: keyPair.privateKey,
    publicKey: keyPair.publicKey,
    csrPem: csr.toString('pem'),
    privateKeyPem: KeyObject.from(keyPair.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
};

// Orders of the NIST curves' base points (SEC 2 §2.4.2, §2.5.1).
const CURVE_ORDER: Record<string, bigint> = {
  'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  'P-384': 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};

const derLength = (length: number): Buffer => {
  if (length < 0x80) return Buffer.from([length]);
  const bytes = Buffer.from(length.toString(16).padStart(length > 0xff ? 4 : 2, '0'), 'hex');
  return Buffer.concat([Buffer.from([0x80 | bytes.length]), bytes]);
};
const derElement = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
const derInteger = (value: bigint): Buffer => {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  // A leading 0x00 keeps a value whose top bit is set positive (X.690 §8.3).
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return derElement(0x02, Buffer.from(hex, 'hex'));
};

/** The malleable twin of an ECDSA-signed certificate: the signature (r, s) rewritten as (r, n - s),
 *  which verifies just the same, so the certificate is the same (same tbsCertificate, issuer and
 *  serial number) with other bytes and another SHA-256 fingerprint. Anyone holding the certificate
 *  can make it; no key is needed. */
export const ecdsaSignatureTwin = (certificateDer: Buffer, curve: 'P-256' | 'P-384' = 'P-256'): Buffer => {
  const order = CURVE_ORDER[curve]!;
  const certificate = readDerElement(certificateDer, 0, certificateDer.length);
  const [tbs, algorithm, signatureValue] = readDerChildren(certificateDer, certificate);
  // BIT STRING: one "unused bits" octet (0), then the DER ECDSA-Sig-Value SEQUENCE { r, s }.
  const signature = certificateDer.subarray(signatureValue!.contentStart + 1, signatureValue!.end);
  const [r, s] = readDerChildren(signature, readDerElement(signature, 0, signature.length));
  const integer = (element: DerElement): bigint => BigInt(`0x${Buffer.from(signature.subarray(element.contentStart, element.end)).toString('hex')}`);
  const twinSignature = derElement(0x30, Buffer.concat([derInteger(integer(r!)), derInteger(order - integer(s!))]));
  const twin = derElement(0x30, Buffer.concat([
    derBytes(certificateDer, tbs!), derBytes(certificateDer, algorithm!), derElement(0x03, Buffer.concat([Buffer.from([0]), twinSignature])),
  ]));
  new X509Certificate(twin); // fail here, not in the test, if the DER is broken
  return twin;
};
