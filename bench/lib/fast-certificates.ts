import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

// Certificates by the thousand for the benchmark: a few dozen lines of hand-written DER (RFC 5280
// §4.1) and one ECDSA P-256 signature each, about 0.1 ms instead of ~1.2 ms through an ASN.1
// library. Only the shapes the benchmark needs: self-signed CAs, agent leaves, v1 proofs.

export interface P256Key {
  readonly privateKey: KeyObject;
  readonly privateKeyPem: string; // PKCS#8
  readonly spkiDer: Buffer;
  /** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
  readonly keyId: Buffer;
}

export interface MintedCertificate {
  readonly der: Buffer;
  readonly pem: string;
  /** The subject Name, DER, for issuing below it. */
  readonly subjectDer: Buffer;
  readonly keyId: Buffer;
  readonly key: P256Key;
}

export const generateP256Key = (): P256Key => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  return {
    privateKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    spkiDer,
    // A P-256 SPKI ends with the 65-byte uncompressed point, the BIT STRING's value.
    keyId: createHash('sha1').update(spkiDer.subarray(spkiDer.length - 65)).digest(),
  };
};

const lengthOctets = (n: number): number[] =>
  n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag, ...lengthOctets(body.length)]), body]);
};
const seq = (...parts: Buffer[]): Buffer => tlv(0x30, ...parts);
const oid = (dotted: string): Buffer => {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) base128.unshift((v & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
};
const positiveInteger = (bytes: Buffer): Buffer => tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after, seconds and "Z", no fractions.
const time = (date: Date): Buffer => {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
};
const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  seq(oid(id), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), tlv(0x04, value));

const ATTRIBUTE_OIDS: Record<string, string> = { CN: '2.5.4.3', O: '2.5.4.10', OU: '2.5.4.11', C: '2.5.4.6' };
/** A Name from [type, value] pairs, most significant first (e.g. [['O', 'Acme'], ['CN', 'acme CA']]). */
export const nameDer = (attributes: readonly (readonly [string, string])[]): Buffer =>
  seq(...attributes.map(([type, value]) => tlv(0x31, seq(oid(ATTRIBUTE_OIDS[type]!), tlv(0x0c, Buffer.from(value, 'utf8'))))));

const ECDSA_WITH_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const HOUR_MS = 3_600_000;

interface MintInput {
  readonly subjectDer: Buffer;
  readonly key: P256Key; // the subject's key
  readonly issuer?: MintedCertificate; // undefined = self-signed
  readonly extensions?: Buffer[]; // undefined = X.509 v1
  readonly validityDays: number;
}

const mint = ({ subjectDer, key, issuer, extensions, validityDays }: MintInput): MintedCertificate => {
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const tbs = seq(
    ...(extensions ? [tlv(0xa0, positiveInteger(Buffer.from([2])))] : []),
    positiveInteger(serial),
    ECDSA_WITH_SHA256,
    issuer?.subjectDer ?? subjectDer,
    seq(time(new Date(now - HOUR_MS)), time(new Date(now + validityDays * 24 * HOUR_MS))),
    subjectDer,
    key.spkiDer,
    ...(extensions ? [tlv(0xa3, seq(...extensions))] : []),
  );
  const signature = sign('sha256', tbs, (issuer?.key ?? key).privateKey);
  const der = seq(tbs, ECDSA_WITH_SHA256, tlv(0x03, Buffer.from([0]), signature));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n').trimEnd();
  return { der, pem: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`, subjectDer, keyId: key.keyId, key };
};

const subjectKeyId = (key: P256Key): Buffer => extension('2.5.29.14', false, tlv(0x04, key.keyId));
const authorityKeyId = (issuer: MintedCertificate): Buffer => extension('2.5.29.35', false, seq(tlv(0x80, issuer.keyId)));

/** A self-signed v3 CA as tenants upload it: critical CA:TRUE, keyCertSign + cRLSign, SKI = AKI. */
export const mintCa = (subject: readonly (readonly [string, string])[], key: P256Key = generateP256Key()): MintedCertificate => mint({
  subjectDer: nameDer(subject),
  key,
  extensions: [
    extension('2.5.29.19', true, seq(Buffer.from([0x01, 0x01, 0xff]))),
    extension('2.5.29.15', true, Buffer.from([0x03, 0x02, 0x01, 0x06])),
    subjectKeyId(key),
    extension('2.5.29.35', false, seq(tlv(0x80, key.keyId))),
  ],
  validityDays: 365,
});

/** An agent (client) certificate: CN only, digitalSignature, clientAuth, AKI = the CA's SKI. */
export const mintAgentCertificate = (issuer: MintedCertificate, commonName: string, key: P256Key): MintedCertificate => mint({
  subjectDer: nameDer([['CN', commonName]]),
  key,
  issuer,
  extensions: [
    extension('2.5.29.15', true, Buffer.from([0x03, 0x02, 0x07, 0x80])),
    extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.2'))),
    subjectKeyId(key),
    authorityKeyId(issuer),
  ],
  validityDays: 30,
});

/** The proof of possession "openssl x509 -req" makes: X.509 v1, CN = the registration code. */
export const mintVerificationCertificate = (issuer: MintedCertificate, registrationCode: string, key: P256Key): MintedCertificate =>
  mint({ subjectDer: nameDer([['CN', registrationCode]]), key, issuer, validityDays: 7 });
