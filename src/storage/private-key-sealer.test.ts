import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { AesGcmPrivateKeySealer } from './private-key-sealer.ts';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

describe('AesGcmPrivateKeySealer', () => {
  const sealer = new AesGcmPrivateKeySealer(randomBytes(32));

  it('opens what it sealed, for the same context only; every seal differs (random IV)', () => {
    const sealed = sealer.seal(PEM, 'ctx-1');
    assert.equal(sealer.open(sealed, 'ctx-1'), PEM);
    assert.notEqual(sealer.seal(PEM, 'ctx-1'), sealed);
    assert.throws(() => sealer.open(sealed, 'ctx-2'), /altered or copied from another row/);
  });

  it('refuses altered ciphertext, a truncated tag and unknown formats', () => {
    const sealed = sealer.seal(PEM, 'ctx');
    const [format, keyId, iv, data, tag] = sealed.split('.') as [string, string, string, string, string];
    const flipped = Buffer.from(data, 'base64url');
    flipped[0]! ^= 1;
    assert.throws(() => sealer.open([format, keyId, iv, flipped.toString('base64url'), tag].join('.'), 'ctx'), /altered/);
    assert.throws(() => sealer.open([format, keyId, iv, data, Buffer.from(tag, 'base64url').subarray(0, 4).toString('base64url')].join('.'), 'ctx'), /altered/);
    assert.throws(() => sealer.open(PEM, 'ctx'), /not in a sealed format/);
    assert.throws(() => sealer.open(`v2.${sealed.slice(3)}`, 'ctx'), /not in a sealed format/);
  });

  it('names the key it needs when opened with another key', () => {
    const other = new AesGcmPrivateKeySealer(randomBytes(32));
    assert.notEqual(other.keyId, sealer.keyId);
    assert.throws(() => other.open(sealer.seal(PEM, 'ctx'), 'ctx'), new RegExp(`sealed with key ${sealer.keyId}.*sealing key is ${other.keyId}`));
  });

  it('takes exactly 32-byte keys', () => {
    assert.throws(() => new AesGcmPrivateKeySealer(randomBytes(16)), /32 bytes/);
  });
});
