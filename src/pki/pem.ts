import { DomainError } from '../shared/index.ts';

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]{1,64})-----([^-]*)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;
// Any private key header, even an unterminated one, counts: we refuse it and never echo it.
const PRIVATE_KEY_HEADER = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

// PEM arrives inside JSON: real newlines after JSON decoding, but people also paste text that still
// holds literal `\n` (backslash + n), `\r\n` or surrounding blanks. Base64 never holds a backslash,
// so turning literal escapes back into newlines cannot change a valid PEM.
export const normalizePemText = (text: string): string =>
  text.replace(/\\r\\n|\\n|\\r/g, '\n').replace(/\r\n?/g, '\n').trim();

export const containsPrivateKey = (text: string): boolean => PRIVATE_KEY_HEADER.test(normalizePemText(text));

/** The one refusal of a private key, wherever a certificate is expected (upload, verify, doctor,
 *  any field of a request body): it names the field, never the key, and says the key may be exposed. */
export const privateKeyIncluded = (field: string): DomainError => new DomainError('pem.privateKeyIncluded',
  `${field} contains a private key. Send only the certificate (the -----BEGIN CERTIFICATE----- block) and keep the key secret; consider this key exposed if it crossed a network.`);

export const parsePemBlocks = (text: string): PemBlock[] => {
  const blocks: PemBlock[] = [];
  for (const match of normalizePemText(text).matchAll(BLOCK)) {
    const [, label = '', body = ''] = match;
    if (!BASE64_BODY.test(body)) continue;
    blocks.push({ label, der: Buffer.from(body.replace(/\s+/g, ''), 'base64') });
  }
  return blocks;
};

// Exactly one CERTIFICATE block and nothing else that matters. `field` names the JSON field in
// messages so a user knows which part of the request to fix.
export const readSingleCertificatePem = (text: string, field: string): Buffer => {
  if (containsPrivateKey(text)) throw privateKeyIncluded(field);
  const blocks = parsePemBlocks(text);
  const certificates = blocks.filter((block) => block.label === 'CERTIFICATE');
  // Count headers too: a second, corrupted certificate block is still a bundle, not a footnote.
  const headers = normalizePemText(text).split('-----BEGIN CERTIFICATE-----').length - 1;
  if (Math.max(certificates.length, headers) > 1) {
    throw new DomainError('pem.multipleCertificates',
      `${field} contains ${Math.max(certificates.length, headers)} certificates. Send exactly one certificate, not a chain or bundle.`);
  }
  const [certificate] = certificates;
  if (!certificate) {
    const found = blocks.length > 0 ? ` (found ${blocks.map((b) => b.label).join(', ')})` : '';
    throw new DomainError('pem.invalid',
      `${field} holds no PEM certificate${found}. Send one block from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----.`);
  }
  if (blocks.length > 1) {
    throw new DomainError('pem.invalid',
      `${field} holds other PEM blocks besides the certificate (${blocks.map((b) => b.label).join(', ')}). Send only the certificate.`);
  }
  return certificate.der;
};

export const derToPem = (der: Buffer, label = 'CERTIFICATE'): string => {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
};
