import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDevSigningKey, mintDevToken } from '../auth/index.ts';
import { spawnServer, type SpawnedServer } from '../../test/support/spawn-server.ts';
import { assertOneLineFailure, cli, cliJson, cliOk } from '../../test/support/run-cli.ts';
import { EXIT } from './cli-error.ts';

// `trustgate audit list` as a user runs it against a real server: what `ca register` and
// `ca delete` did, newest first, with the actor; filters, --limit across API pages, --json, and
// the failures (a bad filter, a read-only token) as one line with their exit code.

describe('trustgate audit list', { timeout: 240_000 }, () => {
  let server: SpawnedServer;
  let root: string;
  let dataDir: string;
  let env: Record<string, string>;
  const tenant = `cli-audit-${process.pid}`;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-cli-audit-'));
    dataDir = join(root, 'data');
    server = await spawnServer({ dataDir, startTimeoutMs: 60_000 });
    env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: dataDir };
    await cliOk(['ca', 'create', '--tenant', tenant], { cwd: root, env });
    const registered = await cliJson(['ca', 'register', '--cert', join(root, `${tenant}-ca.pem`), '--key', join(root, `${tenant}-ca.key`), '--tenant', tenant], { env });
    await cliOk(['ca', 'delete', registered.id, '--tenant', tenant], { env });
  });
  after(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test('lists what happened, newest first, with who did it; --action, --since and --limit filter; human output is a table', async () => {
    const events = await cliJson<any[]>(['audit', 'list', '--tenant', tenant], { env });
    assert.deepEqual(events.map((event) => event.action), ['caCertificate.deleted', 'caCertificate.verified', 'caCertificate.uploaded']);
    assert.ok(events.every((event) => event.actor.type === 'token' && event.actor.id === `dev-user@${tenant}` && event.outcome === 'success'), JSON.stringify(events));
    assert.deepEqual((await cliJson<any[]>(['audit', 'list', '--action', 'caCertificate.deleted', '--tenant', tenant], { env })).map((e) => e.target), [events[0].target]);
    assert.equal((await cliJson<any[]>(['audit', 'list', '--since', '1h', '--limit', '2', '--tenant', tenant], { env })).length, 2);
    assert.deepEqual(await cliJson<any[]>(['audit', 'list', '--until', '2000-01-01T00:00:00Z', '--tenant', tenant], { env }), []);
    const human = await cliOk(['audit', 'list', '--tenant', tenant], { env });
    const lines = human.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^TIME\s+ACTION\s+OUTCOME\s+ACTOR\s+TARGET/);
    assert.equal(lines.length, 4);
    assert.match(lines[1]!, /caCertificate\.deleted\s+success\s+token:dev-user@/);
  });

  test('a bad filter and a read-only token fail with one line and their exit code; another tenant sees nothing', async () => {
    assertOneLineFailure(await cli(['audit', 'list', '--since', 'yesterday', '--tenant', tenant], { env }), EXIT.dataError, /auditEvent\.sinceInvalid|since/);
    assertOneLineFailure(await cli(['audit', 'list', '--limit', '0', '--tenant', tenant], { env }), EXIT.usage, /--limit/);
    assertOneLineFailure(await cli(['audit', 'list', '--action', 'nope', '--tenant', tenant], { env }), EXIT.dataError, /audit action/);
    const reader = await mintDevToken((await loadDevSigningKey(dataDir))!, { tenant, scopes: ['mcmqtt.read'], ttlSeconds: 600 });
    assertOneLineFailure(await cli(['audit', 'list'], { env: { ...env, TRUSTGATE_TOKEN: reader } }), EXIT.noPermission, /mcmqtt\.admin/);
    assert.deepEqual(await cliJson(['audit', 'list', '--tenant', `${tenant}-other`], { env }), []);
  });
});
