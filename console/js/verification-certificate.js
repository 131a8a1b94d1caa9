// The proof of possession, made in the browser: a certificate whose CN is the registration code,
// whose issuer is the CA (its subject DER copied byte for byte), signed with the CA's key through
// WebCrypto. Its own key is a fresh P-256 key that is thrown away: nobody ever uses this
// certificate, it only proves who could sign it.
import {
  bitString, boolean, equalBytes, explicit, namedBits, nullValue, octetString, oid, sequence, set, smallInteger, tlv, time, unsignedInteger, utf8String,
} from './der.js';
import { toPem } from './pem.js';
import { OID } from './oids.js';
import { webCryptoAlgorithm } from './private-key.js';

const extension = (id, critical, value) => sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));

/** WebCrypto's ECDSA signature (r‖s, each `size` bytes) as the DER Ecdsa-Sig-Value X.509 wants. */
export const ecdsaRawToDer = (raw) => {
  if (raw.length % 2 !== 0) throw new Error('ECDSA signature of odd length');
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
};

/** A random positive serial number of 16 bytes (RFC 5280 §4.1.2.2: at most 20, positive). */
export const randomSerial = (random) => {
  const bytes = random(new Uint8Array(16));
  bytes[0] &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes;
};

/**
 * Whether the key file belongs to the CA certificate: their public keys (SubjectPublicKeyInfo)
 * are compared; for an EC key file without its public point, a test signature is checked with the
 * certificate's key instead. Returns { matches, how }.
 */
export const keyMatchesCertificate = async (subtle, key, signingKey, certificate) => {
  if (key.type !== certificate.keyType) return { matches: false, how: 'key type' };
  if (key.type === 'EC' && key.curve?.name !== certificate.curve?.name) return { matches: false, how: 'curve' };
  if (key.spki) return { matches: equalBytes(key.spki, certificate.spkiDer), how: 'public key' };
  const { importParams, signParams } = webCryptoAlgorithm(key);
  const publicKey = await subtle.importKey('spki', certificate.spkiDer, importParams, false, ['verify']);
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  const signature = await subtle.sign(signParams, signingKey, challenge);
  return { matches: await subtle.verify(signParams, publicKey, signature, challenge), how: 'test signature' };
};

/**
 * Builds and signs the verification certificate. `caCertificate` from parseCertificatePem, `key`
 * from readPrivateKeyPem, `signingKey` its non-extractable CryptoKey. Returns { der, pem }.
 */
export const buildVerificationCertificate = async ({ subtle, random, caCertificate, key, signingKey, registrationCode, now = new Date() }) => {
  const { signParams, signatureOid } = webCryptoAlgorithm(key);
  const signatureAlgorithm = key.type === 'RSA' ? sequence(oid(signatureOid), nullValue()) : sequence(oid(signatureOid));
  // The subject key: fresh, P-256, its private half never extractable and dropped at the end.
  const subjectKeys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const subjectSpki = new Uint8Array(await subtle.exportKey('spki', subjectKeys.publicKey));
  const subjectKeyId = new Uint8Array(await subtle.digest('SHA-256', subjectSpki)).subarray(0, 20);
  const extensions = [
    extension(OID.basicConstraints, true, sequence()),
    extension(OID.keyUsage, true, namedBits(0)),
    extension(OID.subjectKeyIdentifier, false, octetString(subjectKeyId)),
    ...(caCertificate.subjectKeyIdentifier ? [extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, caCertificate.subjectKeyIdentifier)))] : []),
  ];
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(randomSerial(random)),
    signatureAlgorithm,
    caCertificate.subjectDer,
    sequence(time(new Date(now.getTime() - 5 * 60_000)), time(new Date(now.getTime() + 24 * 3600_000))),
    sequence(set(sequence(oid(OID.commonName), utf8String(registrationCode)))),
    subjectSpki,
    explicit(3, sequence(...extensions)),
  );
  let signature = new Uint8Array(await subtle.sign(signParams, signingKey, tbs));
  if (key.type === 'EC') signature = ecdsaRawToDer(signature);
  const der = sequence(tbs, signatureAlgorithm, bitString(signature));
  return { der, pem: toPem('CERTIFICATE', der) };
};
