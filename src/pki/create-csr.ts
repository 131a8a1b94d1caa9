import 'reflect-metadata'; // @peculiar/x509 throws at import without it
import { Pkcs10CertificateRequestGenerator } from '@peculiar/x509';
import { importKeyPair, signingAlgorithmOf, x509Crypto } from './key-pair.ts';

// A PKCS#10 request with one CN, signed by `privateKeyPem` (RSA or EC P-256/P-384): what a device
// sends to have its key certified (`trustgate agent renew`, renewal over MQTT).
export const createCsr = async ({ commonName, privateKeyPem }: { readonly commonName: string; readonly privateKeyPem: string }): Promise<string> => {
  const keys = importKeyPair(privateKeyPem, { role: 'subject' });
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey },
    signingAlgorithm: signingAlgorithmOf(keys.privateKey),
  }, x509Crypto);
  return `${csr.toString('pem').trimEnd()}\n`;
};
