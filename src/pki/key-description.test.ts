import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describeKey, isAllowedCaKey } from './key-description.ts';

// Small RSA sizes keep key generation fast; the rule only reads the modulus length.
const cases: { name: string; key: () => KeyObject; description: string; isAllowed: boolean }[] = [
  { name: 'RSA 2048', key: () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, description: 'RSA 2048 bits', isAllowed: true },
  { name: 'RSA 1024', key: () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, description: 'RSA 1024 bits', isAllowed: false },
  { name: 'RSA-PSS 2048', key: () => generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey, description: 'RSA 2048 bits', isAllowed: true },
  { name: 'P-256', key: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, description: 'EC P-256', isAllowed: true },
  { name: 'P-384', key: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey, description: 'EC P-384', isAllowed: true },
  { name: 'P-521', key: () => generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey, description: 'EC P-521', isAllowed: true },
  { name: 'secp256k1', key: () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey, description: 'EC secp256k1', isAllowed: false },
  { name: 'P-224', key: () => generateKeyPairSync('ec', { namedCurve: 'secp224r1' }).publicKey, description: 'EC secp224r1', isAllowed: false },
  { name: 'Ed25519', key: () => generateKeyPairSync('ed25519').publicKey, description: 'ed25519', isAllowed: false },
  { name: 'Ed448', key: () => generateKeyPairSync('ed448').publicKey, description: 'ed448', isAllowed: false },
];

describe('describeKey and isAllowedCaKey', () => {
  for (const { name, key, description, isAllowed } of cases) {
    test(name, () => {
      const publicKey = key();
      assert.equal(describeKey(publicKey), description);
      assert.equal(isAllowedCaKey(publicKey), isAllowed);
    });
  }
});
