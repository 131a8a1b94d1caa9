// Reads the few fields of an X.509 certificate the console needs: the subject's exact DER (the
// verification certificate's issuer is a byte-for-byte copy), the public key info, the SKI.
import { children, readOid, readOne } from './der.js';
import { pemBlocks } from './pem.js';
import { CURVES, OID } from './oids.js';

/** Parses the first CERTIFICATE block of `pem`. */
export const parseCertificatePem = (pem) => {
  const block = pemBlocks(pem).find((b) => b.label === 'CERTIFICATE');
  if (!block || !block.der) throw new Error('No PEM certificate (BEGIN CERTIFICATE) found.');
  return parseCertificateDer(block.der);
};

export const parseCertificateDer = (der) => {
  const [tbs] = children(readOne(der, 'certificate').contents);
  if (!tbs || tbs.tag !== 0x30) throw new Error('Not an X.509 certificate.');
  const fields = children(tbs.contents);
  let index = fields[0]?.tag === 0xa0 ? 1 : 0;
  const serial = fields[index++];
  index++; // signature algorithm
  const issuer = fields[index++];
  index++; // validity
  const subject = fields[index++];
  const spki = fields[index++];
  if (!serial || serial.tag !== 0x02 || !issuer || !subject || subject.tag !== 0x30 || !spki || spki.tag !== 0x30) throw new Error('Not an X.509 certificate.');
  let subjectKeyIdentifier;
  const extensionsField = fields.slice(index).find((f) => f.tag === 0xa3);
  if (extensionsField) {
    for (const extension of children(readOne(extensionsField.contents, 'extensions').contents)) {
      const parts = children(extension.contents);
      if (readOid(parts[0].contents) === OID.subjectKeyIdentifier) {
        const value = parts[parts.length - 1];
        subjectKeyIdentifier = readOne(value.contents, 'subjectKeyIdentifier').contents;
      }
    }
  }
  const [algorithm] = children(spki.contents);
  const [keyOid, parameters] = children(algorithm.contents);
  const keyAlgorithm = readOid(keyOid.contents);
  const keyType = keyAlgorithm === OID.rsaEncryption ? 'RSA' : keyAlgorithm === OID.ecPublicKey ? 'EC' : keyAlgorithm;
  const curve = keyType === 'EC' && parameters?.tag === 0x06 ? CURVES[readOid(parameters.contents)] : undefined;
  return { der, issuerDer: issuer.raw, subjectDer: subject.raw, spkiDer: spki.raw, keyType, curve, subjectKeyIdentifier };
};
