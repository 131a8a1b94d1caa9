import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

type CryptoKey = webcrypto.CryptoKey;

// The local dev issuer: an ES256 key kept in the data dir, so `trustgate token` and the server
// started on the same data dir agree without any identity provider.
export const DEV_ISSUER = 'urn:trustgate:dev-issuer';
export const DEV_AUDIENCE = 'urn:trustgate:api';
export const DEV_ALGORITHM = 'ES256';
const KEY_FILE = 'dev-token-signing-key.json';

export interface DevSigningKey {
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

const readKey = async (jwk: JWK): Promise<DevSigningKey> => {
  const { d: _d, ...publicJwk } = jwk;
  return { privateKey: (await importJWK(jwk, DEV_ALGORITHM)) as CryptoKey, publicJwk };
};

export const loadDevSigningKey = async (dataDir: string): Promise<DevSigningKey | undefined> => {
  const path = join(dataDir, KEY_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return await readKey(JSON.parse(text) as JWK);
  } catch (cause) {
    throw new Error(`${path} is not a valid dev token signing key; delete it to generate a new one (tokens minted with the old key stop working)`, { cause });
  }
};

// Publishes the key file atomically: written and fsynced under a unique temporary name, then
// hard-linked to its final name. A concurrent first run either wins the link or reads the
// winner's complete file; a crash never leaves a half-written key behind.
const publishKeyFile = async (dataDir: string, content: string): Promise<boolean> => {
  const temporary = join(dataDir, `.${KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const file = await open(temporary, 'wx', 0o600);
  try {
    await file.writeFile(content);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await link(temporary, join(dataDir, KEY_FILE));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temporary);
  }
};

export const loadOrCreateDevSigningKey = async (dataDir: string): Promise<DevSigningKey> => {
  const existing = await loadDevSigningKey(dataDir);
  if (existing) return existing;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const stored: JWK = { ...jwk, kid: `dev-${randomBytes(8).toString('hex')}`, alg: DEV_ALGORITHM, use: 'sig' };
  if (await publishKeyFile(dataDir, JSON.stringify(stored))) return readKey(stored);
  return (await loadDevSigningKey(dataDir))!;
};
