import { mkdir, readFile, writeFile } from 'node:fs/promises';
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
  try {
    return await readKey(JSON.parse(await readFile(join(dataDir, KEY_FILE), 'utf8')) as JWK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

export const loadOrCreateDevSigningKey = async (dataDir: string): Promise<DevSigningKey> => {
  const existing = await loadDevSigningKey(dataDir);
  if (existing) return existing;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = `dev-${Date.now().toString(36)}`;
  const stored: JWK = { ...jwk, kid, alg: DEV_ALGORITHM, use: 'sig' };
  try {
    // wx: two processes starting at once must not overwrite each other's key.
    await writeFile(join(dataDir, KEY_FILE), JSON.stringify(stored), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return (await loadDevSigningKey(dataDir))!;
  }
  return readKey(stored);
};
