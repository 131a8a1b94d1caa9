import 'reflect-metadata';
import { KeyObject, sign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, Extension, Extensions, type TBSCertificate } from '@peculiar/asn1-x509';
import { decodeDer, encodeDer, type DerNode } from './der-tree.ts';
import type { TestCertificate, TestKeyPair } from './test-pki.ts';

// Hostile variants of a test-pki certificate: change its TBSCertificate (schema level or byte
// level), sign it again with the issuer's key, and optionally change bytes outside the signed part
// (which needs no key at all). What an attacker or a sloppy CA tool can produce, and what the
// certificate rules must refuse.

export type HostileHash = 'MD5' | 'SHA-1' | 'SHA-224' | 'SHA-256' | 'SHA-384' | 'SHA-512';

const RSA_OIDS: Record<HostileHash, string> = {
  'MD5': '1.2.840.113549.1.1.4',
  'SHA-1': '1.2.840.113549.1.1.5',
  'SHA-224': '1.2.840.113549.1.1.14',
  'SHA-256': '1.2.840.113549.1.1.11',
  'SHA-384': '1.2.840.113549.1.1.12',
  'SHA-512': '1.2.840.113549.1.1.13',
};
const ECDSA_OIDS: Partial<Record<HostileHash, string>> = {
  'SHA-1': '1.2.840.10045.4.1',
  'SHA-224': '1.2.840.10045.4.3.1',
  'SHA-256': '1.2.840.10045.4.3.2',
  'SHA-384': '1.2.840.10045.4.3.3',
  'SHA-512': '1.2.840.10045.4.3.4',
};
const NODE_HASH: Record<HostileHash, string> = { 'MD5': 'md5', 'SHA-1': 'sha1', 'SHA-224': 'sha224', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

export interface ReissueOptions {
  /** The issuer's key pair (the certificate's own for a self-signed CA). */
  readonly signer: TestKeyPair;
  readonly hash?: HostileHash;
  /** A change made through the schema, before signing. */
  readonly tbs?: (tbs: TBSCertificate) => void;
  /** A byte-level change of the signed part (e.g. a non-minimal length), before signing. */
  readonly tbsTree?: (tbs: DerNode) => void;
  /** A byte-level change after signing: [tbsCertificate, signatureAlgorithm, signatureValue]. */
  readonly outerTree?: (certificate: DerNode) => void;
}

const algorithmOf = (signer: TestKeyPair, hash: HostileHash): AlgorithmIdentifier => {
  if (signer.keyType.startsWith('rsa')) return new AlgorithmIdentifier({ algorithm: RSA_OIDS[hash], parameters: DER_NULL });
  const oid = ECDSA_OIDS[hash];
  if (!oid) throw new Error(`ECDSA with ${hash} is not a thing`);
  return new AlgorithmIdentifier({ algorithm: oid });
};

const toPem = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;

export const reissue = (certificate: TestCertificate, options: ReissueOptions): TestCertificate => {
  const hash = options.hash ?? 'SHA-256';
  const asn = AsnConvert.parse(certificate.certificateDer, Certificate);
  const algorithm = algorithmOf(options.signer, hash);
  asn.tbsCertificate.signature = algorithm;
  options.tbs?.(asn.tbsCertificate);
  let tbsDer: Buffer = Buffer.from(AsnConvert.serialize(asn.tbsCertificate));
  if (options.tbsTree) {
    const tree = decodeDer(tbsDer);
    options.tbsTree(tree);
    tbsDer = encodeDer(tree);
  }
  const signature = sign(NODE_HASH[hash], tbsDer, KeyObject.from(options.signer.privateKey));
  const tree: DerNode = {
    tag: 0x30,
    children: [{ tag: 0x30, raw: tbsDer }, decodeDer(Buffer.from(AsnConvert.serialize(algorithm))), { tag: 0x03, content: Buffer.concat([Buffer.from([0]), signature]) }],
  };
  options.outerTree?.(tree);
  const certificateDer = encodeDer(tree);
  return { ...certificate, certificateDer, certificatePem: toPem(certificateDer) };
};

/** Appends an extension (DER value) to the TBSCertificate, e.g. a second basicConstraints. */
export const addExtension = (tbs: TBSCertificate, oid: string, isCritical: boolean, valueDer: ArrayBuffer | Buffer): void => {
  const value = valueDer instanceof ArrayBuffer ? valueDer : new Uint8Array(valueDer).buffer;
  const extension = new Extension({ extnID: oid, critical: isCritical, extnValue: new OctetString(value) });
  tbs.extensions = new Extensions([...(tbs.extensions ?? []), extension]);
};

/** The index of the [3] extensions wrapper among the TBSCertificate's children. */
export const extensionsPath = (tbs: DerNode): number[] => {
  const index = tbs.children!.findIndex((child) => child.tag === 0xa3);
  if (index < 0) throw new Error('no extensions');
  return [index, 0];
};
