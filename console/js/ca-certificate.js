// "Create a CA in this browser" (review of issue 17): for a new user with no CA and no OpenSSL. A
// fresh EC P-256 key made by WebCrypto and a self-signed X.509 v3 CA certificate written by the
// console's own DER encoder. The key is exported once, as PKCS#8 PEM, for the operator to save
// (it must be extractable for that); it is never sent, logged or stored by the page.
import { boolean, explicit, octetString, oid, sequence, set, smallInteger, tlv, time, unsignedInteger, utf8String, bitString, namedBits } from './der.js';
import { toPem } from './pem.js';
import { OID } from './oids.js';
import { ecdsaRawToDer, randomSerial } from './verification-certificate.js';

const extension = (id, critical, value) => sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));

/** 1–64 characters (X.520 ub-common-name), no control characters. */
export const checkCommonName = (commonName) => {
  const name = String(commonName ?? '').trim();
  if (name.length === 0) return 'Give the CA a name (its common name, e.g. "Acme devices CA").';
  if ([...name].length > 64) return 'A common name has at most 64 characters (X.520).';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(name)) return 'No control or text-direction characters in the name.';
  return undefined;
};

/**
 * A new CA: { certificatePem, keyPem, commonName, notAfter }. Valid from 5 minutes ago for
 * `days`; basicConstraints CA:TRUE and keyUsage keyCertSign + cRLSign (both critical), SKI, and
 * AKI = SKI; signed ECDSA with SHA-256 by its own key.
 */
export const createCaCertificate = async ({ subtle, random, commonName, days = 3650, now = new Date() }) => {
  const problem = checkCommonName(commonName);
  if (problem) throw new Error(problem);
  const { privateKey, publicKey } = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const spki = new Uint8Array(await subtle.exportKey('spki', publicKey));
  const keyId = new Uint8Array(await subtle.digest('SHA-256', spki)).subarray(0, 20);
  const name = sequence(set(sequence(oid(OID.commonName), utf8String(commonName.trim()))));
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256));
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(randomSerial(random)),
    signatureAlgorithm,
    name,
    sequence(time(new Date(now.getTime() - 5 * 60_000)), time(notAfter)),
    name,
    spki,
    explicit(3, sequence(
      extension(OID.basicConstraints, true, sequence(boolean(true))),
      // keyCertSign (5) and cRLSign (6).
      extension(OID.keyUsage, true, namedBits(5, 6)),
      extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
      extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, keyId))),
    )),
  );
  const signature = ecdsaRawToDer(new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, tbs)));
  const certificateDer = sequence(tbs, signatureAlgorithm, bitString(signature));
  const pkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', privateKey));
  const keyPem = toPem('PRIVATE KEY', pkcs8);
  pkcs8.fill(0);
  return { certificatePem: toPem('CERTIFICATE', certificateDer), keyPem, commonName: commonName.trim(), notAfter };
};
