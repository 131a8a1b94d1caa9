import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { watch, writeFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
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
    // Planted the moment the snapshot appears (another backup to the same directory, or a process
    // of the same user), after the emptiness check and before the keys are copied.
    const out = join(dir, 'raced-out');
    await mkdir(out, { mode: 0o700 });
    const watcher = watch(out, (_event, file) => {
      if (file !== 'trustgate.db') return;
      watcher.close();
      writeFileSync(join(out, 'managed-ca-sealing.key'), 'planted\n', { mode: 0o644 });
    });
    try {
      await assert.rejects(backUp(out), (error: unknown) => error instanceof BackupError && error.reason === 'cantCreate' && /managed-ca-sealing\.key/.test(error.message));
    } finally {
      watcher.close();
    }
    assert.equal(await readFile(join(out, 'managed-ca-sealing.key'), 'utf8'), 'planted\n', 'left as found, for the operator to look at');
  });

  const asRoot = process.getuid?.() === 0 ? false : 'needs root: the data dir must belong to another user than the file its link points to';
  test('a data dir file that is a link (made by whoever runs the server) is not followed: the backup, often run as root, copies no file it points to', { skip: asRoot }, async () => {
    const linkedDataDir = join(dir, 'linked-data');
    await mkdir(linkedDataDir, { mode: 0o700 });
    await chown(linkedDataDir, 65534, 65534);
    const database = new DatabaseSync(join(linkedDataDir, 'trustgate.db'));
    database.exec('CREATE TABLE t (x);');
    database.close();
    const secret = join(dir, 'root-only-secret');
    await writeFile(secret, 'root:secret-hash\n', { mode: 0o600 });
    await symlink(secret, join(linkedDataDir, 'broker-root-ca.pem'));
    const out = join(dir, 'linked-out');
    await assert.rejects(backUp(out, linkedDataDir), (error: unknown) => error instanceof BackupError && /broker-root-ca\.pem/.test(error.message));
    for (const file of await readdir(out).catch((): string[] => [])) {
      assert.doesNotMatch(await readFile(join(out, file), 'latin1'), /secret-hash/, file);
    }
  });

  test('a FIFO in the data dir does not hang the backup: refused', { timeout: 10_000 }, async () => {
    const fifoDataDir = join(dir, 'fifo-data');
    await mkdir(fifoDataDir, { mode: 0o700 });
    const database = new DatabaseSync(join(fifoDataDir, 'trustgate.db'));
    database.exec('CREATE TABLE t (x);');
    database.close();
    execFileSync('mkfifo', ['-m', '600', join(fifoDataDir, 'dev-token-signing-key.json')]);
    await assert.rejects(backUp(join(dir, 'fifo-out'), fifoDataDir), (error: unknown) => error instanceof BackupError && /dev-token-signing-key\.json is not a regular file/.test(error.message));
  });
});
