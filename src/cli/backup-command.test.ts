import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { cli } from '../../test/support/run-cli.ts';

// `trustgate backup` without a server: what it copies, and its refusals (one line, a distinct exit
// code). The backup of a running node and its restore: test/e2e/backup-restore.test.ts.

describe('trustgate backup', { concurrency: true }, () => {
  let dir: string;
  let ownTlsDataDir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-backup-cli-'));
    // A data dir of a server with its own TLS files: a database and the two keys, no broker-* files.
    ownTlsDataDir = join(dir, 'data');
    await mkdir(ownTlsDataDir, { mode: 0o700 });
    const database = new DatabaseSync(join(ownTlsDataDir, 'trustgate.db'));
    database.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (42);');
    database.close();
    await writeFile(join(ownTlsDataDir, 'dev-token-signing-key.json'), '{"kid":"k"}', { mode: 0o600 });
    await writeFile(join(ownTlsDataDir, 'managed-ca-sealing.key'), 'c2VhbGluZw==\n', { mode: 0o600 });
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('a data dir without broker-* files: the database and both keys, and a note to back up the own TLS files', async () => {
    const out = join(dir, 'own-tls-backup');
    const result = await cli(['backup', '--out', out], { env: { TRUSTGATE_DATA_DIR: ownTlsDataDir } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['dev-token-signing-key.json', 'managed-ca-sealing.key', 'trustgate.db']);
    assert.equal((await stat(join(out, 'managed-ca-sealing.key'))).mode & 0o777, 0o600);
    assert.equal(await readFile(join(out, 'managed-ca-sealing.key'), 'utf8'), 'c2VhbGluZw==\n');
    const copy = new DatabaseSync(join(out, 'trustgate.db'), { readOnly: true });
    assert.deepEqual({ ...copy.prepare('SELECT x FROM t').get() }, { x: 42 });
    copy.close();
    assert.match(result.stdout, /^backed up .*\/data to .*\/own-tls-backup:\n {2}trustgate\.db \(a consistent snapshot of .*trustgate\.db, \d+ bytes\)\n/);
    assert.match(result.stdout, /no broker root CA in the data dir: the server uses your own TLS files \(TRUSTGATE_TLS_CERT_FILE, TRUSTGATE_TLS_KEY_FILE\); back them up too/);
  });

  test('PostgreSQL: the data dir\'s files only, and a reminder to pg_dump (--json)', async () => {
    const out = join(dir, 'pg-backup');
    const result = await cli(['backup', '--out', out, '--json'], {
      env: { TRUSTGATE_DATA_DIR: ownTlsDataDir, TRUSTGATE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
    });
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.deepEqual(summary.database, { kind: 'postgres' });
    assert.deepEqual(summary.files, ['dev-token-signing-key.json', 'managed-ca-sealing.key']);
    assert.deepEqual((await readdir(out)).sort(), ['dev-token-signing-key.json', 'managed-ca-sealing.key']);
    const human = await cli(['backup', '--out', join(dir, 'pg-backup-2')], {
      env: { TRUSTGATE_DATA_DIR: ownTlsDataDir, TRUSTGATE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
    });
    assert.match(human.stdout, /the database is PostgreSQL \(TRUSTGATE_DATABASE_URL\): it is not in this backup; dump it with pg_dump/);
  });

  test('refusals: no data dir (66), an --out that is not empty (73, nothing written), a file that is no database (66)', async () => {
    const missing = join(dir, 'no-such-dir');
    const noDataDir = await cli(['backup', '--out', join(dir, 'unused')], { env: { TRUSTGATE_DATA_DIR: missing } });
    assert.equal(noDataDir.code, 66);
    assert.equal(noDataDir.stderr, `trustgate: there is no data dir ${missing}: set TRUSTGATE_DATA_DIR to the directory "trustgate serve" uses\n`);
    await assert.rejects(stat(join(dir, 'unused')), { code: 'ENOENT' });

    const taken = join(dir, 'taken');
    await mkdir(taken);
    await writeFile(join(taken, 'older-backup.db'), 'keep');
    const notEmpty = await cli(['backup', '--out', taken], { env: { TRUSTGATE_DATA_DIR: ownTlsDataDir } });
    assert.equal(notEmpty.code, 73);
    assert.equal(notEmpty.stderr, `trustgate: --out ${taken} is not empty; give a new directory for each backup\n`);
    assert.deepEqual(await readdir(taken), ['older-backup.db']);

    const junkDir = join(dir, 'junk');
    await mkdir(junkDir);
    await writeFile(join(junkDir, 'trustgate.db'), 'this is not a database, just text long enough to be read as a header by sqlite ...........');
    const junk = await cli(['backup', '--out', join(dir, 'junk-out')], { env: { TRUSTGATE_DATA_DIR: junkDir } });
    assert.equal(junk.code, 66);
    assert.match(junk.stderr, /^trustgate: could not take a snapshot of the SQLite database .*junk\/trustgate\.db: .*not a database/);
    assert.deepEqual(await readdir(join(dir, 'junk-out')), [], 'no partial copy left behind');
  });
});
