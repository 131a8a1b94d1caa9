import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { waitUntil } from '../../test/support/wait-until.ts';
import { backUpDataDir, BackupError } from './back-up-data-dir.ts';

// A backup holds the keys that let anyone mint tokens and issue agent certificates, and a database
// whose CA rows decide who is trusted: restoring a backup someone else could write into hands them
// the tenants. So --out is a directory only its owner can write, every file in it is one this
// backup created, and none of them is readable by others.

describe('backUpDataDir: only files it created, in a directory nobody else can write', () => {
  let dir: string;
  let dataDir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-backup-attacks-'));
    dataDir = join(dir, 'data');
    await mkdir(dataDir, { mode: 0o700 });
    const database = new DatabaseSync(join(dataDir, 'trustgate.db'));
    database.exec('CREATE TABLE t (x); INSERT INTO t VALUES (42);');
    database.close();
    await writeFile(join(dataDir, 'managed-ca-sealing.key'), 'c2VhbGluZw==\n', { mode: 0o600 });
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  const backUp = (outDir: string, from = dataDir) => backUpDataDir({ dataDir: from, databaseUrl: `sqlite:${join(from, 'trustgate.db')}`, outDir });

  test('an existing empty --out that others may write into (e.g. made in /tmp by another user) is refused, nothing written', async () => {
    const out = join(dir, 'shared-out');
    await mkdir(out);
    await chmod(out, 0o777);
    await assert.rejects(backUp(out), (error: unknown) => error instanceof BackupError && error.reason === 'cantCreate' && /others can write/.test(error.message));
    assert.deepEqual(await readdir(out), []);
  });

  test('the database snapshot is private (0600) also in an existing directory that others may read', async () => {
    const out = join(dir, 'readable-out');
    await mkdir(out);
    await chmod(out, 0o755);
    const result = await backUp(out);
    assert.equal(result.database.kind, 'sqlite');
    assert.equal((await stat(join(out, 'trustgate.db'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(out, 'managed-ca-sealing.key'))).mode & 0o777, 0o600);
  });

  test('a key file that appears in --out while the backup runs is not taken for the copy: the backup fails', async () => {
    // The data dir's key is a FIFO: reading it waits for the test, which plants a file of its own
    // in --out first (another backup to the same directory, or someone who can write there).
    const slowDataDir = join(dir, 'slow-data');
    await mkdir(slowDataDir, { mode: 0o700 });
    const database = new DatabaseSync(join(slowDataDir, 'trustgate.db'));
    database.exec('CREATE TABLE t (x);');
    database.close();
    execFileSync('mkfifo', ['-m', '600', join(slowDataDir, 'dev-token-signing-key.json')]);
    const out = join(dir, 'raced-out');
    const backup = backUp(out, slowDataDir);
    backup.catch(() => undefined);
    await waitUntil(async () => (await readdir(out).catch((): string[] => [])).includes('trustgate.db'), 10_000, 'the snapshot is written');
    await writeFile(join(out, 'dev-token-signing-key.json'), '{"planted":true}', { mode: 0o644 });
    await writeFile(join(slowDataDir, 'dev-token-signing-key.json'), '{"kid":"genuine"}');
    await assert.rejects(backup, (error: unknown) => error instanceof BackupError && error.reason === 'cantCreate' && /dev-token-signing-key\.json/.test(error.message));
    assert.equal(await readFile(join(out, 'dev-token-signing-key.json'), 'utf8'), '{"planted":true}', 'left as found, for the operator to look at');
  });
});
