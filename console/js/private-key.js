// Reads the CA's private key file (PEM) and turns it into what WebCrypto can import: WebCrypto
// imports only PKCS#8, so PKCS#1 RSA (`BEGIN RSA PRIVATE KEY`, what MindConnect hands out) and
// SEC1 EC (`BEGIN EC PRIVATE KEY`, what `openssl ecparam -genkey` writes) are wrapped into PKCS#8
// here. The key is imported non-extractable and nothing here keeps, logs or sends it.
import {
  bitString, children, explicit, integerMagnitude, nullValue, octetString, oid, readOid, readOne, sequence, smallInteger, tlv, unsignedInteger,
} from './der.js';
import { pemBlocks } from './pem.js';
import { CURVES, OID } from './oids.js';

export class KeyFileError extends Error {}

const rsaAlgorithm = () => sequence(oid(OID.rsaEncryption), nullValue());
const ecAlgorithm = (curveOid) => sequence(oid(OID.ecPublicKey), oid(curveOid));

/** The SubjectPublicKeyInfo DER of an RSA public key (n, e as magnitudes). */
export const rsaSpki = (n, e) => sequence(rsaAlgorithm(), bitString(sequence(unsignedInteger(n), unsignedInteger(e))));
/** The SubjectPublicKeyInfo DER of an EC public key (the point as in the key file). */
export const ecSpki = (curveOid, point) => sequence(ecAlgorithm(curveOid), tlv(0x03, Uint8Array.of(0), point));

const readRsaPrivateKey = (der) => {
  const fields = children(readOne(der, 'RSA private key').contents);
  if (fields.length < 9 || fields.some((f) => f.tag !== 0x02)) throw new KeyFileError('The RSA private key is not a PKCS#1 RSAPrivateKey.');
  return { n: integerMagnitude(fields[1].contents), e: integerMagnitude(fields[2].contents) };
};

// ECPrivateKey (RFC 5915): version 1, the private scalar, [0] curve, [1] public point.
const readEcPrivateKey = (der) => {
  const fields = children(readOne(der, 'EC private key').contents);
  if (fields.length < 2 || fields[0].tag !== 0x02 || fields[1].tag !== 0x04) throw new KeyFileError('The EC private key is not a SEC1 ECPrivateKey.');
  let curveOid;
  let point;
  for (const field of fields.slice(2)) {
    if (field.tag === 0xa0) {
      const parameters = readOne(field.contents, 'EC parameters');
      if (parameters.tag !== 0x06) throw new KeyFileError('The EC key has explicit curve parameters; only named curves (P-256, P-384, P-521) are supported.');
      curveOid = readOid(parameters.contents);
    } else if (field.tag === 0xa1) {
      const bits = readOne(field.contents, 'EC public key');
      if (bits.tag !== 0x03 || bits.contents[0] !== 0) throw new KeyFileError('The EC key\'s public key is not a BIT STRING.');
      point = bits.contents.subarray(1);
    }
  }
  return { scalar: fields[1].contents, curveOid, point };
};

// PKCS#8 as OpenSSL writes it for EC: the inner ECPrivateKey without the curve (it is in the algorithm).
const ecPkcs8 = (curveOid, { scalar, point }) => sequence(
  smallInteger(0), ecAlgorithm(curveOid),
  octetString(sequence(smallInteger(1), octetString(scalar), ...(point ? [explicit(1, tlv(0x03, Uint8Array.of(0), point))] : []))),
);

const curveOf = (curveOid) => {
  const curve = CURVES[curveOid];
  if (!curve) throw new KeyFileError(`The EC key uses the curve ${curveOid}; the browser can sign with P-256, P-384 and P-521 only.`);
  return curve;
};

/**
 * Reads a private key PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
 * Returns { format, type: 'RSA'|'EC', pkcs8, curve?, spki? } where spki is the public key's
 * SubjectPublicKeyInfo DER when the file holds it (RSA always; EC when the point is included).
 */
export const readPrivateKeyPem = (text) => {
  let blocks;
  try {
    blocks = pemBlocks(text);
  } catch (error) {
    throw new KeyFileError(error.message);
  }
  const keys = blocks.filter((b) => /PRIVATE KEY$/.test(b.label));
  if (keys.length === 0) {
    const found = blocks.map((b) => b.label).join(', ');
    throw new KeyFileError(found ? `This file holds ${found}, not a private key. Pick the CA's key file (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY).`
      : 'This is not a PEM private key. Pick the CA\'s key file (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY).');
  }
  if (keys.length > 1) throw new KeyFileError('This file holds more than one private key; pick a file with only the CA\'s key.');
  const [key] = keys;
  if (key.label === 'ENCRYPTED PRIVATE KEY' || key.encrypted) {
    throw new KeyFileError('The key file is encrypted with a passphrase. Decrypt a copy first (openssl pkey -in ca.key -out ca-plain.key), or use the command-line panel below.');
  }
  try {
    if (key.label === 'RSA PRIVATE KEY') {
      const { n, e } = readRsaPrivateKey(key.der);
      const pkcs8 = sequence(smallInteger(0), rsaAlgorithm(), octetString(key.der));
      return { format: 'PKCS#1', type: 'RSA', pkcs8, spki: rsaSpki(n, e), bits: bitLength(n) };
    }
    if (key.label === 'EC PRIVATE KEY') {
      const ec = readEcPrivateKey(key.der);
      if (!ec.curveOid) throw new KeyFileError('The EC key does not name its curve; export it with "openssl ec -in ca.key -param_enc named_curve".');
      const curve = curveOf(ec.curveOid);
      return { format: 'SEC1', type: 'EC', pkcs8: ecPkcs8(ec.curveOid, ec), curve, spki: ec.point ? ecSpki(ec.curveOid, ec.point) : undefined };
    }
    if (key.label === 'PRIVATE KEY') return readPkcs8(key.der);
  } catch (error) {
    if (error instanceof KeyFileError) throw error;
    throw new KeyFileError(`The ${key.label} block is not a readable key (${error.message}).`);
  }
  throw new KeyFileError(`"${key.label}" keys are not supported; use PKCS#8, PKCS#1 RSA or SEC1 EC.`);
};

const bitLength = (magnitude) => (magnitude.length - 1) * 8 + (32 - Math.clz32(magnitude[0]));

const readPkcs8 = (der) => {
  const fields = children(readOne(der, 'PKCS#8 key').contents);
  if (fields.length < 3 || fields[0].tag !== 0x02 || fields[1].tag !== 0x30 || fields[2].tag !== 0x04) throw new KeyFileError('The PRIVATE KEY block is not PKCS#8.');
  const [algorithm, parameters] = children(fields[1].contents);
  const algorithmOid = readOid(algorithm.contents);
  if (algorithmOid === OID.rsaEncryption) {
    const { n, e } = readRsaPrivateKey(fields[2].contents);
    return { format: 'PKCS#8', type: 'RSA', pkcs8: der, spki: rsaSpki(n, e), bits: bitLength(n) };
  }
  if (algorithmOid === OID.ecPublicKey) {
    if (!parameters || parameters.tag !== 0x06) throw new KeyFileError('The EC key has explicit curve parameters; only named curves are supported.');
    const curveOid = readOid(parameters.contents);
    const curve = curveOf(curveOid);
    const ec = readEcPrivateKey(fields[2].contents);
    // Re-wrapped so the inner key carries no curve of its own (some tools repeat it; WebCrypto is strict).
    return { format: 'PKCS#8', type: 'EC', pkcs8: ecPkcs8(curveOid, ec), curve, spki: ec.point ? ecSpki(curveOid, ec.point) : undefined };
  }
  if (algorithmOid === OID.rsassaPss) throw new KeyFileError('RSA-PSS keys are not supported by the browser verification; use the command-line panel below.');
  throw new KeyFileError(`Keys of type ${algorithmOid} are not supported here; the browser signs with RSA or EC (P-256, P-384, P-521) keys.`);
};

/** WebCrypto's import and sign parameters for a key read by readPrivateKeyPem. */
export const webCryptoAlgorithm = (key) => key.type === 'RSA'
  ? { importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signParams: { name: 'RSASSA-PKCS1-v1_5' }, signatureOid: OID.sha256WithRsa }
  : { importParams: { name: 'ECDSA', namedCurve: key.curve.name }, signParams: { name: 'ECDSA', hash: key.curve.hash }, signatureOid: key.curve.signatureOid };

/** Imports the key for signing, non-extractable: the page can sign with it but never read it back. */
export const importSigningKey = (subtle, key) =>
  subtle.importKey('pkcs8', key.pkcs8, webCryptoAlgorithm(key).importParams, false, ['sign']);
