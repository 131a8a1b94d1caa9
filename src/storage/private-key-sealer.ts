import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

// Private keys at rest (docs/decisions/0010-managed-ca-keys.md): AES-256-GCM under a 32-byte key
// that lives outside the database (in the data dir), so a copy of the database alone (a backup, a
// dump, a read replica) cannot sign anything. The context (tenant + row id) is authenticated data:
// a sealed key moved to another row does not open.
export interface PrivateKeySealer {
  seal(privateKeyPem: string, context: string): string;
  open(sealed: string, context: string): string;
}

const FORMAT = 'v1';
const IV_BYTES = 12; // NIST SP 800-38D §8.2: 96-bit IVs, random per message
const TAG_BYTES = 16;
export const SEALING_KEY_BYTES = 32;

export class AesGcmPrivateKeySealer implements PrivateKeySealer {
  readonly #key: Buffer;
  /** Names the key (not secret): a sealed value says which key it needs, so a wrong one is reported as such. */
  readonly keyId: string;

  constructor(key: Buffer) {
    if (key.length !== SEALING_KEY_BYTES) throw new Error(`a sealing key has ${SEALING_KEY_BYTES} bytes, not ${key.length}`);
    this.#key = Buffer.from(key);
    this.keyId = createHash('sha256').update('trustgate sealing key id\0').update(key).digest('hex').slice(0, 16);
  }

  seal(privateKeyPem: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const sealed = Buffer.concat([cipher.update(privateKeyPem, 'utf8'), cipher.final()]);
    return [FORMAT, this.keyId, iv.toString('base64url'), sealed.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string, context: string): string {
    const [format, keyId, iv, data, tag, ...rest] = sealed.split('.');
    if (format !== FORMAT || !keyId || !iv || !data || !tag || rest.length > 0) throw new Error('the stored private key is not in a sealed format this version reads');
    if (keyId !== this.keyId) {
      throw new Error(`the stored private key was sealed with key ${keyId}, but this server's sealing key is ${this.keyId}: restore the data dir's managed-ca-sealing.key that belongs to this database`);
    }
    try {
      // A fixed tag length: a truncated tag must not be accepted as a shorter valid one.
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new Error('the stored private key does not open: it was altered or copied from another row', { cause });
    }
  }
}
