import 'reflect-metadata'; // @peculiar/x509 throws at import without it
import { createPublicKey, KeyObject } from 'node:crypto';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import { DomainError } from '../shared/index.ts';
import { x509Crypto, type CryptoKey } from './key-pair.ts';
import { containsPrivateKey } from './pem.ts';
import { weakKeyDescriptionOfKey } from './strength.ts';

// A device's PKCS#10 request, for an agent certificate that certifies the device's own key
// (`trustgate agent issue --csr`, POST /agentCertificates with a CSR): the key never leaves it.

export interface CheckedCsr {
  readonly publicKey: CryptoKey;
  readonly commonName: string | undefined;
}

const MAX_RSA_BITS = 8192;
const MAX_RSA_PUBLIC_EXPONENT = 2n ** 32n;

const costlyOrWeakKeyDescription = (spki: ArrayBuffer): string | undefined => {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    return undefined; // the signature check refuses it as csr.invalid
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    if ((details.modulusLength ?? 0) > MAX_RSA_BITS) return `RSA ${details.modulusLength} bits`;
    if ((details.publicExponent ?? 0n) > MAX_RSA_PUBLIC_EXPONENT) return 'RSA with a public exponent over 32 bits';
  }
  return weakKeyDescriptionOfKey(key);
};

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
  // The key first: checking the signature of an RSA key costs an exponentiation as long as its
  // exponent and modulus, and a refused request does not count against the renewal limit.
  const weakKeyBeforeVerifying = costlyOrWeakKeyDescription(csr.publicKey.rawData);
  if (weakKeyBeforeVerifying !== undefined) throw new DomainError('csr.weakKey', `The CSR's key (${weakKeyBeforeVerifying}) is not supported: use RSA with 2048 to ${MAX_RSA_BITS} bits (public exponent of at most 32 bits) or EC P-256/P-384/P-521 for the device key.`);
  let isSigned = false;
  try {
    isSigned = await csr.verify(x509Crypto);
  } catch {
    isSigned = false;
  }
  if (!isSigned) throw new DomainError('csr.invalid', 'The CSR\'s signature does not verify: it was not made with the key it contains. Create it again with the device\'s key.');
  const publicKey = await csr.publicKey.export(x509Crypto);
  // The one strength helper (strength.ts), as for every certificate trustgate admits.
  const weakKey = weakKeyDescriptionOfKey(KeyObject.from(publicKey));
  if (weakKey !== undefined) throw new DomainError('csr.weakKey', `The CSR's key (${weakKey}) is not supported: use RSA with at least 2048 bits or EC P-256/P-384/P-521 for the device key.`);
  const commonName = csr.subjectName.getField('CN')[0];
  return { publicKey, commonName };
};
