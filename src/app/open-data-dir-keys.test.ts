import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../config/index.ts';
import { systemClock } from '../shared/index.ts';
import { openDatabase } from '../storage/index.ts';
import { openDataDirKeys } from './open-data-dir-keys.ts';

describe('the data dir keys, checked against the database at start', () => {
  const dirs: string[] = [];
  const tempDir = async (label: string): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), `trustgate-keys-${label}-`));
    dirs.push(dir);
    return dir;
  };
  after(async () => { for (const dir of dirs) await rm(dir, { recursive: true, force: true }); });
  const database = async () => openDatabase({ url: `sqlite:${join(await tempDir('db'), 'trustgate.db')}` });

  it('the same data dir opens again with the same keys; another one is refused, naming the data dir', async () => {
    const db = await database();
    try {
      const dataDir = await tempDir('a');
      const first = await openDataDirKeys({ dataDir, db, usesDevIssuer: true, clock: systemClock });
      const again = await openDataDirKeys({ dataDir, db, usesDevIssuer: true, clock: systemClock });
      assert.equal(again.devSigningKey!.publicJwk.kid, first.devSigningKey!.publicJwk.kid);
      assert.equal(again.sealer.keyId, first.sealer.keyId);
      const other = await tempDir('b');
      await assert.rejects(openDataDirKeys({ dataDir: other, db, usesDevIssuer: true, clock: systemClock }),
        (error: unknown) => error instanceof ConfigError && error.message.startsWith(`The data dir ${other} (TRUSTGATE_DATA_DIR) does not belong to this database`));
      assert.deepEqual(await readdir(other), [], 'no key created');
    } finally {
      await db.destroy();
    }
  });

  it('with an external identity provider, no dev key is created or checked; the sealing key still is', async () => {
    const db = await database();
    try {
      const dataDir = await tempDir('jwks');
      const keys = await openDataDirKeys({ dataDir, db, usesDevIssuer: false, clock: systemClock });
      assert.equal(keys.devSigningKey, undefined);
      assert.deepEqual(await readdir(dataDir), ['managed-ca-sealing.key']);
      await assert.rejects(openDataDirKeys({ dataDir: await tempDir('jwks-other'), db, usesDevIssuer: false, clock: systemClock }), /managed CA sealing key/);
    } finally {
      await db.destroy();
    }
  });

  it('of two first starts at once with different data dirs, exactly one is refused', async () => {
    const db = await database();
    try {
      const results = await Promise.allSettled([await tempDir('x'), await tempDir('y')].map((dataDir) => openDataDirKeys({ dataDir, db, usesDevIssuer: true, clock: systemClock })));
      assert.deepEqual(results.map((result) => result.status).sort(), ['fulfilled', 'rejected']);
    } finally {
      await db.destroy();
    }
  });
});
