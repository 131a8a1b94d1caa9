import { createPrivateKey, createPublicKey, KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import type { X509CertificateGenerator } from '@peculiar/x509';

// The one place pki makes or reads keys: generated for a new certificate, or imported from PEM
// to be certified (the broker's keys on disk) or to sign (an issuer's key). Pure: PEM in, PEM out.

export type CryptoKey = webcrypto.CryptoKey;
/** Node's WebCrypto, typed as the provider @peculiar/x509 takes. */
export const x509Crypto = webcrypto as unknown as Parameters<typeof X509CertificateGenerator.create>[1];
export type KeyType = 'p256' | 'p384' | 'rsa2048' | 'rsa3072' | 'rsa4096';
export const KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'rsa2048', 'rsa3072', 'rsa4096'];
export const KEY_TYPE_NAMES: Readonly<Record<KeyType, string>> = {
  p256: 'EC P-256', p384: 'EC P-384', rsa2048: 'RSA 2048', rsa3072: 'RSA 3072', rsa4096: 'RSA 4096',
};

export interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly privateKeyPem: string; // PKCS#8
}

type KeyAlgorithm = webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
// Node's curve names, ours and WebCrypto's.
const EC_CURVES: Readonly<Record<string, { readonly keyType: KeyType; readonly namedCurve: string }>> = {
  prime256v1: { keyType: 'p256', namedCurve: 'P-256' },
  secp384r1: { keyType: 'p384', namedCurve: 'P-384' },
};
const RSA_EXPONENT = new Uint8Array([1, 0, 1]); // 65537

const keyAlgorithm = (type: KeyType): webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams => {
  switch (type) {
    case 'p256': return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'p384': return { name: 'ECDSA', namedCurve: 'P-384' };
    default: return { name: 'RSASSA-PKCS1-v1_5', modulusLength: Number(type.slice(3)), publicExponent: RSA_EXPONENT, hash: 'SHA-256' };
  }
};

const pkcs8Pem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString();

export const generateKeyPair = async (type: KeyType): Promise<KeyPair> => {
  const pair = await webcrypto.subtle.generateKey(keyAlgorithm(type), true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, privateKeyPem: pkcs8Pem(KeyObject.from(pair.privateKey)) };
};

// "rsa", "ec secp384r1", "ed25519": a key as Node names it, for messages.
const nodeKeyName = (key: KeyObject): string => {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `${key.asymmetricKeyType}${curve ? ` ${curve}` : ''}`;
};

const ecCurveOf = (key: KeyObject) =>
  key.asymmetricKeyType === 'ec' ? EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;

const keyTypeOf = (key: KeyObject): KeyType | undefined => {
  if (key.asymmetricKeyType !== 'rsa') return ecCurveOf(key)?.keyType;
  const rsa = `rsa${key.asymmetricKeyDetails?.modulusLength}`;
  return KEY_TYPES.find((type) => type === rsa);
};

/** Refuses any key but `onlyKeyType` (a profile's restriction); no restriction when undefined. */
export const requireKeyType = (key: KeyObject, onlyKeyType: KeyType | undefined): void => {
  if (onlyKeyType !== undefined && keyTypeOf(key) !== onlyKeyType) {
    throw new Error(`the key is ${nodeKeyName(key)}, not ${KEY_TYPE_NAMES[onlyKeyType]}`);
  }
};

export interface ImportKeyPairOptions {
  /** Refuse any other key (a profile's `onlyKeyType`). */
  readonly onlyKeyType?: KeyType | undefined;
  /** Names the key in the refusal of an unsupported one. */
  readonly role: 'issuer' | 'subject';
}

/** Imports a private key (PKCS#8, PKCS#1 or SEC1 PEM; RSA of any size or EC P-256/P-384). */
export const importKeyPair = (privateKeyPem: string, { onlyKeyType, role }: ImportKeyPairOptions): KeyPair => {
  const key = createPrivateKey(privateKeyPem);
  requireKeyType(key, onlyKeyType);
  const curve = ecCurveOf(key);
  let algorithm: KeyAlgorithm;
  if (curve !== undefined) algorithm = { name: 'ECDSA', namedCurve: curve.namedCurve };
  else if (key.asymmetricKeyType === 'rsa') algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  else throw new Error(`unsupported ${role} key: ${nodeKeyName(key)} (use RSA or EC P-256/P-384)`);
  return {
    privateKey: key.toCryptoKey(algorithm, true, ['sign']),
    publicKey: createPublicKey(key).toCryptoKey(algorithm, true, ['verify']),
    privateKeyPem: pkcs8Pem(key),
  };
};

// The hash matches the key: SHA-384 for P-384 (RFC 5480 §4 pairs each curve with a hash),
// SHA-256 otherwise; for RSA the hash was fixed when the key was generated or imported.
export const signingAlgorithmOf = (key: CryptoKey): webcrypto.EcdsaParams | webcrypto.Algorithm =>
  key.algorithm.name === 'ECDSA'
    ? { name: 'ECDSA', hash: (key.algorithm as webcrypto.EcKeyAlgorithm).namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256' }
    : { name: 'RSASSA-PKCS1-v1_5' };

export const isRsaKey = (key: CryptoKey): boolean => key.algorithm.name.startsWith('RSA');

/** Does this private key belong to this certificate? */
export const isKeyOfCertificate = (certificatePem: string, privateKeyPem: string): boolean => {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(privateKeyPem));
  } catch {
    return false;
  }
};
