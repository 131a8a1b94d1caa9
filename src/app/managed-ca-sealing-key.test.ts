import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, after } from 'node:test';
import { loadOrCreateManagedCaSealingKey, MANAGED_CA_SEALING_KEY_FILE } from './managed-ca-sealing-key.ts';

describe('the managed CA sealing key in the data dir', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trustgate-sealing-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => { for (const dir of dirs) await rm(dir, { recursive: true, force: true }); });

  it('is created once (0600, 32 bytes) and read back the same at the next start', async () => {
    const dir = await tempDir();
    const first = await loadOrCreateManagedCaSealingKey(dir);
    assert.equal(first.length, 32);
    const path = join(dir, MANAGED_CA_SEALING_KEY_FILE);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await loadOrCreateManagedCaSealingKey(dir), first);
    assert.equal((await readFile(path, 'utf8')).trim(), first.toString('base64'));
  });

  it('concurrent first starts agree on one key', async () => {
    const dir = await tempDir();
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateManagedCaSealingKey(dir)));
    for (const key of keys) assert.deepEqual(key, keys[0]);
  });

  it('a damaged file is an error that says what is at stake, never silently replaced', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, MANAGED_CA_SEALING_KEY_FILE), 'not a key\n', { mode: 0o600 });
    await assert.rejects(loadOrCreateManagedCaSealingKey(dir), /not a 32-byte base64 sealing key.*backup/);
    assert.equal(await readFile(join(dir, MANAGED_CA_SEALING_KEY_FILE), 'utf8'), 'not a key\n');
  });
});
