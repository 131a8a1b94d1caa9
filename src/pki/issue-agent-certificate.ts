import 'reflect-metadata'; // @peculiar/x509 throws at import without it
import { createPrivateKey, createPublicKey, KeyObject, webcrypto, X509Certificate as NodeX509Certificate } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension, BasicConstraintsExtension, ExtendedKeyUsage, ExtendedKeyUsageExtension,
  KeyUsageFlags, KeyUsagesExtension, Pkcs10CertificateRequest, SubjectKeyIdentifierExtension, X509Certificate,
  X509CertificateGenerator, type JsonName,
} from '@peculiar/x509';
import { DomainError } from '../shared/index.ts';
import { commonNameDn, crypto, pemOf, randomSerialHex, validity, type IssuedCertificate } from './issue-certificate.ts';
import { containsPrivateKey } from './pem.ts';
import { weakKeyDescriptionOfKey } from './strength.ts';

// Issuance for tenants: CA certificates (`trustgate ca create`), verification certificates
// (proof of possession), agent certificates (`trustgate agent issue`, POST /agentCertificates),
// from a generated key or a device's CSR. Pure: PEM in, PEM out.

type CryptoKey = webcrypto.CryptoKey;
export type KeyType = 'p256' | 'p384' | 'rsa2048' | 'rsa3072' | 'rsa4096';
export const KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'rsa2048', 'rsa3072', 'rsa4096'];

const keyAlgorithm = (type: KeyType): webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams => {
  switch (type) {
    case 'p256': return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'p384': return { name: 'ECDSA', namedCurve: 'P-384' };
    default: return { name: 'RSASSA-PKCS1-v1_5', modulusLength: Number(type.slice(3)), publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  }
};

const signingAlgorithmOf = (key: CryptoKey): webcrypto.EcdsaParams | webcrypto.Algorithm =>
  key.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: (key.algorithm as webcrypto.EcKeyAlgorithm).namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };

interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly privateKeyPem: string;
}

export const generateKeyPair = async (type: KeyType): Promise<KeyPair> => {
  const pair = await webcrypto.subtle.generateKey(keyAlgorithm(type), true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  return { ...pair, privateKeyPem: KeyObject.from(pair.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString() };
};

/** Imports an issuer's private key (PKCS#8, PKCS#1 or SEC1 PEM; RSA or EC P-256/P-384) for signing. */
export const importSigningKey = (privateKeyPem: string): { privateKey: CryptoKey; publicKey: CryptoKey } => {
  const key = createPrivateKey(privateKeyPem);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  let algorithm: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  if (key.asymmetricKeyType === 'ec' && (curve === 'prime256v1' || curve === 'secp384r1')) {
    algorithm = { name: 'ECDSA', namedCurve: curve === 'prime256v1' ? 'P-256' : 'P-384' };
  } else if (key.asymmetricKeyType === 'rsa') {
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else {
    throw new Error(`unsupported issuer key: ${key.asymmetricKeyType}${curve ? ` ${curve}` : ''} (use RSA or EC P-256/P-384)`);
  }
  return {
    privateKey: key.toCryptoKey(algorithm, true, ['sign']),
    publicKey: createPublicKey(key).toCryptoKey(algorithm, true, ['verify']),
  };
};

/** Does this private key belong to this certificate? */
export const isKeyOfCertificate = (certificatePem: string, privateKeyPem: string): boolean => {
  try {
    return new NodeX509Certificate(certificatePem).checkPrivateKey(createPrivateKey(privateKeyPem));
  } catch {
    return false;
  }
};

export interface CreateCaCertificateOptions {
  /** Subject attributes, e.g. { CN: 'acme CA', O: 'Acme' }. */
  readonly subject: Readonly<Record<string, string>>;
  readonly keyType: KeyType;
  readonly validityDays: number;
  readonly now: Date;
}

// A self-signed CA as MindConnect expects it: v3, critical CA:TRUE, keyCertSign (RFC 5280 §4.2.1.3,
// §4.2.1.9), SKI (§4.2.1.2). pathLen 0: it issues agent certificates only.
export const createCaCertificate = async ({ subject, keyType, validityDays, now }: CreateCaCertificateOptions): Promise<IssuedCertificate> => {
  const keys = await generateKeyPair(keyType);
  const name: JsonName = Object.entries(subject).map(([attribute, value]) => ({ [attribute]: [value] }));
  const certificate = await X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name,
    ...validity(now, validityDays),
    keys,
    signingAlgorithm: signingAlgorithmOf(keys.privateKey),
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto);
  return { certificatePem: pemOf(certificate), privateKeyPem: keys.privateKeyPem };
};

export interface CheckedCsr {
  readonly publicKey: CryptoKey;
  readonly commonName: string | undefined;
}

/** Reads a PKCS#10 request and checks its self-signature (the device holds the key). */
export const readCsr = async (csrPem: string): Promise<CheckedCsr> => {
  if (containsPrivateKey(csrPem)) {
    throw new DomainError('pem.privateKeyIncluded', 'The CSR field contains a private key. Send only the -----BEGIN CERTIFICATE REQUEST----- block; the key stays on the device.');
  }
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(csrPem.trim());
  } catch (cause) {
    throw new DomainError('csr.invalid', 'The CSR is not a readable PKCS#10 request. Create it with e.g. "openssl req -new -key agent.key -subj /CN=<name>".', { cause });
  }
  let isSigned = false;
  try {
    isSigned = await csr.verify(crypto);
  } catch {
    isSigned = false;
  }
  if (!isSigned) throw new DomainError('csr.invalid', 'The CSR\'s signature does not verify: it was not made with the key it contains. Create it again with the device\'s key.');
  const publicKey = await csr.publicKey.export(crypto);
  // The one strength helper (strength.ts), as for every certificate trustgate admits.
  const weakKey = weakKeyDescriptionOfKey(KeyObject.from(publicKey));
  if (weakKey !== undefined) throw new DomainError('csr.weakKey', `The CSR's key (${weakKey}) is not supported: use RSA with at least 2048 bits or EC P-256/P-384/P-521 for the device key.`);
  const commonName = csr.subjectName.getField('CN')[0];
  return { publicKey, commonName };
};

export interface IssueAgentCertificateOptions {
  readonly issuer: IssuedCertificate;
  readonly commonName: string;
  /** Generate a key of this type... */
  readonly keyType?: KeyType;
  /** ...or certify the key of a checked CSR (then no private key is returned). */
  readonly csr?: CheckedCsr;
  readonly validityDays: number;
  readonly now: Date;
}

// An agent certificate: v3 end entity for TLS client authentication, AKI pointing at its CA.
export const issueAgentCertificate = async (options: IssueAgentCertificateOptions): Promise<{ certificatePem: string; privateKeyPem: string | undefined }> => {
  const { issuer, commonName, csr, now, validityDays } = options;
  const issuerCertificate = new X509Certificate(issuer.certificatePem);
  const issuerKeys = importSigningKey(issuer.privateKeyPem);
  const generated = csr ? undefined : await generateKeyPair(options.keyType ?? 'p256');
  const publicKey = csr?.publicKey ?? generated!.publicKey;
  const issuerKeyId = issuerCertificate.getExtension(SubjectKeyIdentifierExtension)?.keyId
    ?? (await SubjectKeyIdentifierExtension.create(issuerKeys.publicKey, false, crypto)).keyId;
  const isRsa = publicKey.algorithm.name.startsWith('RSA');
  const certificate = await X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: commonNameDn(commonName),
    issuer: issuerCertificate.subjectName,
    ...validity(now, validityDays, issuerCertificate.notAfter),
    publicKey,
    signingKey: issuerKeys.privateKey,
    signingAlgorithm: signingAlgorithmOf(issuerKeys.privateKey),
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature | (isRsa ? KeyUsageFlags.keyEncipherment : 0), true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth], false),
      new AuthorityKeyIdentifierExtension(issuerKeyId, false),
      await SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
    ],
  }, crypto);
  return { certificatePem: pemOf(certificate), privateKeyPem: generated?.privateKeyPem };
};

/** The proof of possession for `trustgate ca register`: CN = registration code, signed by the CA. */
export const issueVerificationCertificate = async (issuer: IssuedCertificate, registrationCode: string, now: Date): Promise<string> =>
  (await issueAgentCertificate({ issuer, commonName: registrationCode, keyType: 'p256', validityDays: 7, now })).certificatePem;
