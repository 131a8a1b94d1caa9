import { readFileSync } from 'node:fs';
import { parseCertificatePem, parseCertificateDer, derToPem } from '/work/main/src/pki/index.ts';
const pem = readFileSync('/tmp/tp/ca.pem', 'utf8');
const c = parseCertificatePem(pem);
console.log(c.version, c.subject, c.signatureHash, c.keyUsage, c.basicConstraints, c.subjectKeyId, c.authorityKeyId);
const junk = Buffer.concat([c.der, Buffer.from('junkjunk')]);
try { const j = parseCertificateDer(junk); console.log('junk accepted', j.fingerprintSha256 === c.fingerprintSha256, j.der.length, c.der.length); } catch (e) { console.log('junk rejected', (e as any).code); }
const v1 = parseCertificatePem(readFileSync('/tmp/tp/v1.pem', 'utf8'));
console.log(v1.version, v1.subjectCommonNames, v1.basicConstraints, v1.keyUsage);
// tamper a byte inside the signature-covered area: x509 parse ok?
