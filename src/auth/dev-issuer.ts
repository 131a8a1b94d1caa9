import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { publishOnce, readOptional } from '../files/index.ts';
import { join } from 'node:path';
import type { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

type CryptoKey = webcrypto.CryptoKey;

// The local dev issuer: an ES256 key kept in the data dir, so `trustgate token` and the server
// started on the same data dir agree without any identity provider.
export const DEV_ISSUER = 'urn:trustgate:dev-issuer';
export const DEV_AUDIENCE = 'urn:trustgate:api';
export const DEV_ALGORITHM = 'ES256';
/** The longest a dev token may live (README, "Tokens": every token has an `exp`, and a dev token's is bounded):
 *  minting refuses a longer lifetime and verification refuses a dev token issued for longer. */
export const DEV_TOKEN_MAX_TTL_SECONDS = 7 * 24 * 3600;
export const DEV_SIGNING_KEY_FILE = 'dev-token-signing-key.json';

export interface DevSigningKey {
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

const readKey = async (jwk: JWK): Promise<DevSigningKey> => {
  const { d: _d, ...publicJwk } = jwk;
  return { privateKey: (await importJWK(jwk, DEV_ALGORITHM)) as CryptoKey, publicJwk };
};

export const loadDevSigningKey = async (dataDir: string): Promise<DevSigningKey | undefined> => {
  const path = join(dataDir, DEV_SIGNING_KEY_FILE);
  const text = await readOptional(path);
  if (text === undefined) return undefined;
  try {
    return await readKey(JSON.parse(text) as JWK);
  } catch (cause) {
    throw new Error(`${path} is not a valid dev token signing key; delete it to generate a new one (tokens minted with the old key stop working)`, { cause });
  }
};

export const loadOrCreateDevSigningKey = async (dataDir: string): Promise<DevSigningKey> => {
  const existing = await loadDevSigningKey(dataDir);
  if (existing) return existing;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const stored: JWK = { ...jwk, kid: `dev-${randomBytes(8).toString('hex')}`, alg: DEV_ALGORITHM, use: 'sig' };
  // Atomic and exclusive: a concurrent first run either wins or reads the winner's complete key.
  if (await publishOnce(join(dataDir, DEV_SIGNING_KEY_FILE), JSON.stringify(stored), 0o600)) return readKey(stored);
  return (await loadDevSigningKey(dataDir))!;
};
