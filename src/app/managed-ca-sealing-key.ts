import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { publishOnce, readOptional } from '../files/index.ts';
import { SEALING_KEY_BYTES } from '../storage/index.ts';

// The key that seals the managed CAs' private keys in the database (docs/decisions/0010-managed-ca-keys.md).
// Kept in the data dir, apart from a PostgreSQL database: a database copy alone cannot sign.
export const MANAGED_CA_SEALING_KEY_FILE = 'managed-ca-sealing.key';

const decode = (text: string, path: string): Buffer => {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== SEALING_KEY_BYTES || key.toString('base64') !== text.trim()) {
    throw new Error(`${path} is not a ${SEALING_KEY_BYTES}-byte base64 sealing key. Restore it from your backup of the data dir: without it the managed CAs cannot issue agent certificates (their existing certificates keep working).`);
  }
  return key;
};

/** The data dir's sealing key, or undefined if it has none yet. */
export const loadManagedCaSealingKey = async (dataDir: string): Promise<Buffer | undefined> => {
  const path = join(dataDir, MANAGED_CA_SEALING_KEY_FILE);
  const existing = await readOptional(path);
  return existing === undefined ? undefined : decode(existing, path);
};

export const loadOrCreateManagedCaSealingKey = async (dataDir: string): Promise<Buffer> => {
  const path = join(dataDir, MANAGED_CA_SEALING_KEY_FILE);
  const existing = await loadManagedCaSealingKey(dataDir);
  if (existing !== undefined) return existing;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(SEALING_KEY_BYTES);
  // Atomic and exclusive: of two concurrent first starts one wins and the other reads its key.
  if (await publishOnce(path, `${key.toString('base64')}\n`, 0o600)) return key;
  return decode((await readOptional(path))!, path);
};
