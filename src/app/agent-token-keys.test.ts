import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { AGENT_TOKEN_ISSUER, generateAgentTokenKey } from '../auth/index.ts';
import { loadConfig } from '../config/index.ts';
import type { Clock } from '../shared/index.ts';
import { AesGcmPrivateKeySealer, KyselyAgentTokenKeys, openDatabase } from '../storage/index.ts';
import { describeOn, openTestDatabase, testDialects } from '../../test/support/test-databases.ts';
import { openDataDirKeys } from './open-data-dir-keys.ts';
import { agentTokenSignerOf, listAgentTokenKeys, openAgentTokenKeyRing, rotateAgentTokenKey } from './agent-token-keys.ts';

// Issue 19 part 1 (decision 0033): the agent token keys in the database, sealed with the data
// dir's sealing key; a rotation as `trustgate agent-token-key rotate` makes it, on both dialects.

const clockAt = (ms: number): Clock & { ms: number } => {
  const clock = { ms, now: () => new Date(clock.ms) };
  return clock;
};

for (const dialect of testDialects) {
  describeOn(dialect)(`agent token keys on ${dialect}`, () => {
    it('the first start makes one key, later starts none; the private key is stored sealed to its row', async () => {
      const database = await openTestDatabase(dialect);
      try {
        const sealer = new AesGcmPrivateKeySealer(randomBytes(32));
        const clock = clockAt(Date.now());
        const ring = await openAgentTokenKeyRing(database.db, sealer, { clock, refreshMs: 0 });
        await openAgentTokenKeyRing(database.db, sealer, { clock, refreshMs: 0 });
        const [jwk, ...more] = await ring.publicJwks();
        assert.equal(more.length, 0);
        const rows = await database.db.selectFrom('agent_token_keys').selectAll().execute();
        assert.equal(rows.length, 1);
        assert.ok(!rows[0]!.sealed_private_key.includes('PRIVATE KEY'));
        const signed = await agentTokenSignerOf(ring).sign({ tenant: 'acme', clientId: 'acme_pump-1', jti: 'j1' });
        assert.deepEqual(signed.scope, ['mdsp:core:DefaultAgent']);
        await jwtVerify(signed.token, createLocalJWKSet({ keys: [jwk!] }), { issuer: AGENT_TOKEN_ISSUER, algorithms: ['ES256'] });

        // A sealed key moved to another row does not open; another data dir's sealing key opens nothing.
        await database.db.insertInto('agent_token_keys').values({ ...rows[0]!, kid: 'agent-moved' }).execute();
        await assert.rejects(new KyselyAgentTokenKeys(database.db, sealer).list(), /altered or copied from another row/);
        await database.db.deleteFrom('agent_token_keys').where('kid', '=', 'agent-moved').execute();
        await assert.rejects(new KyselyAgentTokenKeys(database.db, new AesGcmPrivateKeySealer(randomBytes(32))).list(), /sealed with key/);

        // The published half is checked against the sealed one (security review of decision 0033):
        // a writer of the table cannot publish a key of their own, another kid, or a private member.
        const { publicJwk: foreign } = await generateAgentTokenKey(new Date());
        const tampered: [string, Record<string, unknown>][] = [
          ['another key under this kid', { ...foreign, kid: rows[0]!.kid }],
          ['another kid', { ...jwk, kid: 'dev-0000000000000000' }],
          ['no kid', { ...jwk, kid: undefined }],
          ['a private member', { ...jwk, d: 'AAAA' }],
          ['another curve', { ...jwk, crv: 'P-384' }],
        ];
        for (const [what, publicJwk] of tampered) {
          await database.db.updateTable('agent_token_keys').set({ public_jwk: JSON.stringify(publicJwk) }).where('kid', '=', rows[0]!.kid).execute();
          await assert.rejects(new KyselyAgentTokenKeys(database.db, sealer).list(), /not the public half of its sealed private key/, what);
        }
        await database.db.updateTable('agent_token_keys').set({ public_jwk: rows[0]!.public_jwk }).where('kid', '=', rows[0]!.kid).execute();
        assert.equal((await new KyselyAgentTokenKeys(database.db, sealer).list()).length, 1);
      } finally {
        await database.close();
      }
    });
  });
}

const dirs: string[] = [];
after(async () => { for (const dir of dirs) await rm(dir, { recursive: true, force: true }); });

it('rotate (the CLI\'s): the new key is published at once and signs from its time; the old one stays published; keys whose tokens expired are removed', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'trustgate-agent-token-keys-'));
  dirs.push(dataDir);
  const config = loadConfig({ TRUSTGATE_DATA_DIR: dataDir });
  const clock = clockAt(Date.parse('2026-12-03T12:00:00Z'));
  // The server's first start: data dir keys recorded, the first agent token key made.
  const db = await openDatabase({ url: `sqlite:${join(dataDir, 'trustgate.db')}` });
  const { sealer } = await openDataDirKeys({ dataDir, db, usesDevIssuer: true, clock });
  const ring = await openAgentTokenKeyRing(db, sealer, { clock, refreshMs: 0 });
  try {
    const [first] = await listAgentTokenKeys(config, clock);
    assert.equal(first?.state, 'signing');
    const before = await ring.sign({ tenant: 'acme', clientId: 'acme_pump-1', jti: 'j1' });

    const rotated = await rotateAgentTokenKey(config, clock);
    assert.equal(rotated.added.signsFrom, new Date(clock.ms + 30_000).toISOString());
    assert.deepEqual(rotated.keys.map((key) => [key.kid, key.state]), [[first.kid, 'signing'], [rotated.added.kid, 'next']]);
    assert.deepEqual((await ring.publicJwks()).map((jwk) => jwk.kid), [first.kid, rotated.added.kid], 'published before it signs');
    assert.equal((await ring.sign({ tenant: 'acme', clientId: 'acme_pump-1', jti: 'j2' })).kid, first.kid);

    clock.ms += 30_000;
    const after = await ring.sign({ tenant: 'acme', clientId: 'acme_pump-1', jti: 'j3' });
    assert.equal(after.kid, rotated.added.kid);
    const published = createLocalJWKSet({ keys: await ring.publicJwks() });
    for (const token of [before.token, after.token]) await jwtVerify(token, published, { issuer: AGENT_TOKEN_ISSUER, algorithms: ['ES256'], currentDate: clock.now() });

    // Past the old key's last token (an hour and the margin): the next rotation removes it.
    clock.ms += 3_600_000 + 300_000;
    const again = await rotateAgentTokenKey(config, clock, 0);
    assert.deepEqual(again.removed, [first.kid]);
    assert.deepEqual(again.keys.map((key) => key.state), ['published', 'signing']);
    assert.deepEqual((await listAgentTokenKeys(config, clock)).map((key) => key.kid), [rotated.added.kid, again.added.kid]);
  } finally {
    await db.destroy();
  }
});
