import assert from 'node:assert/strict';
import { createPublicKey, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isDomainError } from '../shared/index.ts';
import { readCsr } from './read-csr.ts';

const derLength = (length: number): Buffer => {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
};
const oddBytes = (count: number): Buffer => {
  const bytes = randomBytes(count);
  bytes[0]! |= 0x80; // exactly count × 8 bits: a 2048-bit modulus must not come out as 2047
  bytes[count - 1]! |= 1;
  return bytes;
};

// A PKCS#10 request for an RSA key nobody holds (n and e random): its signature cannot verify,
// but checking it costs a modular exponentiation as long as e and n.
const hostileRsaCsr = (modulusBits: number, exponentBits: number): string => {
  const key = createPublicKey({ key: { kty: 'RSA', n: oddBytes(modulusBits / 8).toString('base64url'), e: oddBytes(exponentBits / 8).toString('base64url') }, format: 'jwk' });
  const spki = key.export({ type: 'spki', format: 'der' });
  const name = tlv(0x30, tlv(0x31, tlv(0x30, Buffer.from('0603550403', 'hex'), tlv(0x0c, Buffer.from('pump-1')))));
  const info = tlv(0x30, Buffer.from('020100', 'hex'), name, spki, Buffer.from('a000', 'hex'));
  const sha256WithRsa = tlv(0x30, Buffer.from('06092a864886f70d01010b0500', 'hex'));
  const der = tlv(0x30, info, sha256WithRsa, tlv(0x03, Buffer.from([0]), randomBytes(modulusBits / 8)));
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
};

const refusalCode = async (pem: string): Promise<string> => {
  try {
    await readCsr(pem);
  } catch (error) {
    if (isDomainError(error)) return error.code;
    throw error;
  }
  return 'accepted';
};

describe('readCsr: keys whose signature check costs too much are refused before it', () => {
  it('an RSA key with a 3072-bit public exponent is csr.weakKey', async () => {
    assert.equal(await refusalCode(hostileRsaCsr(3072, 3072)), 'csr.weakKey');
  });

  it('a 16384-bit RSA modulus is csr.weakKey', async () => {
    assert.equal(await refusalCode(hostileRsaCsr(16384, 24)), 'csr.weakKey');
  });

  it('positive control: a 2048-bit key with e = 65537-sized exponent gets to the signature check (csr.invalid)', async () => {
    assert.equal(await refusalCode(hostileRsaCsr(2048, 24)), 'csr.invalid');
  });
});
