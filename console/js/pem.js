// PEM: RFC 7468 text blocks around base64 DER.
import { fromBase64, toBase64 } from './der.js';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order: { label, der }. Headers (Proc-Type…) mark an encrypted legacy key. */
export const pemBlocks = (text) => {
  const blocks = [];
  for (const match of String(text).matchAll(BLOCK)) {
    const body = match[2];
    if (/^[A-Za-z-]+:/m.test(body)) {
      blocks.push({ label: match[1], der: undefined, encrypted: /Proc-Type:\s*4,ENCRYPTED/i.test(body) });
      continue;
    }
    const base64 = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) throw new Error(`The ${match[1]} block is not valid base64.`);
    blocks.push({ label: match[1], der: fromBase64(base64), encrypted: false });
  }
  return blocks;
};

/** DER → PEM with 64-character lines. */
export const toPem = (label, der) => {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
};
