import { readFileSync } from 'node:fs';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { parseCertificateDer } from '/work/main/src/pki/index.ts';
import { X509Certificate } from 'node:crypto';
const der = new X509Certificate(readFileSync('/tmp/tp/p521.pem', 'utf8')).raw;
const asn = AsnConvert.parse(der, Certificate);
asn.tbsCertificate.subjectPublicKeyInfo.algorithm.algorithm = '1.2.3.4.5.6';
asn.tbsCertificate.subjectPublicKeyInfo.algorithm.parameters = undefined;
const bad = Buffer.from(AsnConvert.serialize(asn));
try { parseCertificateDer(bad); console.log('ok?'); } catch (e: any) { console.log(e.name, e.code, e.message); }
const x = new X509Certificate(bad); console.log('constructed', x.subject);
try { x.publicKey; } catch (e: any) { console.log('publicKey throws', e.code); }
try { console.log(x.verify(new X509Certificate(der).publicKey)); } catch (e: any) { console.log('verify throws', e.code); }
