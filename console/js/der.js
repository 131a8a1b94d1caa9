// A small DER encoder and reader: just what the console needs to read a CA certificate and a
// private key and to build one verification certificate (decision 0026). Works on Uint8Array, in
// the browser and in Node, with no dependency.

const TEXT = new TextEncoder();

/** Concatenates byte arrays. */
export const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
};

export const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

export const fromHex = (hex) => {
  if (!/^(?:[0-9a-f]{2})*$/i.test(hex)) throw new Error('not hex');
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
};

export const toBase64 = (bytes) => {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
};

export const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

export const equalBytes = (a, b) => a.length === b.length && a.every((value, index) => value === b[index]);

// ---- encoding ----

const encodeLength = (length) => {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
};

/** One TLV with the given tag byte. */
export const tlv = (tag, ...contents) => {
  const body = concat(...contents);
  return concat(Uint8Array.of(tag), encodeLength(body.length), body);
};

export const sequence = (...items) => tlv(0x30, ...items);
export const set = (...items) => tlv(0x31, ...items);
export const nullValue = () => Uint8Array.of(0x05, 0x00);
export const boolean = (value) => Uint8Array.of(0x01, 0x01, value ? 0xff : 0x00);
export const octetString = (bytes) => tlv(0x04, bytes);
export const utf8String = (text) => tlv(0x0c, TEXT.encode(text));
/** [n] EXPLICIT, constructed context-specific. */
export const explicit = (n, ...contents) => tlv(0xa0 | n, ...contents);

/** BIT STRING with no unused bits. */
export const bitString = (bytes) => tlv(0x03, Uint8Array.of(0), bytes);

/** A BIT STRING of named bits (bit 0 = the most significant bit of the first byte), minimal DER. */
export const namedBits = (...bits) => {
  if (bits.length === 0) return Uint8Array.of(0x03, 0x01, 0x00);
  const highest = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3] |= 0x80 >> (bit & 7);
  const unused = 7 - (highest & 7);
  return tlv(0x03, Uint8Array.of(unused), bytes);
};

/** A non-negative INTEGER from big-endian magnitude bytes: minimal, with a 0x00 when the top bit is set. */
export const unsignedInteger = (magnitude) => {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let bytes = magnitude.subarray(start);
  if (bytes.length === 0) bytes = Uint8Array.of(0);
  if (bytes[0] & 0x80) bytes = concat(Uint8Array.of(0), bytes);
  return tlv(0x02, bytes);
};

export const smallInteger = (value) => unsignedInteger(Uint8Array.of(value));

export const oid = (dotted) => {
  const parts = dotted.split('.').map(Number);
  if (parts.length < 2 || parts.some((p) => !Number.isInteger(p) || p < 0)) throw new Error(`bad OID ${dotted}`);
  const arcs = [parts[0] * 40 + parts[1], ...parts.slice(2)];
  const bytes = [];
  for (const arc of arcs) {
    const chunk = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift(0x80 | (rest & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(bytes));
};

const two = (n) => String(n).padStart(2, '0');

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), whole seconds, Z. */
export const time = (date) => {
  const year = date.getUTCFullYear();
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return year < 2050 ? tlv(0x17, TEXT.encode(`${two(year % 100)}${rest}`)) : tlv(0x18, TEXT.encode(`${year}${rest}`));
};

// ---- reading ----

/**
 * Reads the TLV at `offset`: { tag, start (of the header), contentStart, end, contents, raw }.
 * Strict about lengths (definite, minimal long form, inside the buffer).
 */
export const readTlv = (bytes, offset = 0) => {
  if (offset + 2 > bytes.length) throw new Error('DER: truncated');
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not supported');
  let length = bytes[offset + 1];
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error('DER: indefinite or oversized length');
    if (contentStart + count > bytes.length) throw new Error('DER: truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[contentStart + i];
    if (length < 0x80 || bytes[contentStart] === 0) throw new Error('DER: length not minimal');
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > bytes.length) throw new Error('DER: value runs past the end');
  return { tag, start: offset, contentStart, end, contents: bytes.subarray(contentStart, end), raw: bytes.subarray(offset, end) };
};

/** The TLVs inside a constructed value's contents. */
export const children = (contents) => {
  const items = [];
  for (let offset = 0; offset < contents.length;) {
    const item = readTlv(contents, offset);
    items.push(item);
    offset = item.end;
  }
  return items;
};

/** A whole buffer that must be exactly one TLV (nothing after it). */
export const readOne = (bytes, what = 'value') => {
  const item = readTlv(bytes, 0);
  if (item.end !== bytes.length) throw new Error(`DER: bytes after the ${what}`);
  return item;
};

export const readOid = (contents) => {
  if (contents.length === 0) throw new Error('DER: empty OID');
  const arcs = [];
  let value = 0;
  for (const byte of contents) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift();
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
};

/** An INTEGER's magnitude without sign-padding zeros. */
export const integerMagnitude = (contents) => {
  let start = 0;
  while (start < contents.length - 1 && contents[start] === 0) start++;
  return contents.subarray(start);
};
