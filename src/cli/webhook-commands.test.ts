import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type SpawnedServer } from '../../test/support/spawn-server.ts';
import { assertOneLineFailure, cli, cliJson, cliOk } from '../../test/support/run-cli.ts';
import { EXIT } from './cli-error.ts';

// `trustgate webhook add|list|remove|deliveries` against a real server (issue 19 part 4).

describe('trustgate webhook', { timeout: 240_000 }, () => {
  let server: SpawnedServer;
  let root: string;
  let env: Record<string, string>;
  const tenant = `cli-webhook-${process.pid}`;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-cli-webhook-'));
    const dataDir = join(root, 'data');
    server = await spawnServer({ dataDir, startTimeoutMs: 60_000, env: { TRUSTGATE_WEBHOOK_ALLOWED_HOSTS: 'hooks.example.com' } });
    env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: dataDir };
  });
  after(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test('add (a generated secret shown once), list, deliveries, remove; a host outside the allow-list is one line, exit 65', async () => {
    const added = await cliJson(['webhook', 'add', '--endpoint', 'https://hooks.example.com/in', '--events', 'agent.onboarded,caCertificate.verified', '--tenant', tenant], { env });
    assert.match(added.secret, /^[0-9a-f]{64}$/);
    assert.deepEqual(added.events, ['agent.onboarded', 'caCertificate.verified']);
    const listed = await cliJson<any[]>(['webhook', 'list', '--tenant', tenant], { env });
    assert.deepEqual(listed.map((hook) => hook.id), [added.id]);
    assert.equal(JSON.stringify(listed).includes(added.secret), false);
    const human = await cliOk(['webhook', 'list', '--tenant', tenant], { env });
    assert.match(human.stdout, /^ID\s+CREATED\s+EVENTS\s+URL/);
    assert.deepEqual(await cliJson(['webhook', 'deliveries', added.id, '--tenant', tenant], { env }), []);
    assertOneLineFailure(await cli(['webhook', 'add', '--endpoint', 'https://evil.example.com/in', '--tenant', tenant], { env }), EXIT.dataError, /TRUSTGATE_WEBHOOK_ALLOWED_HOSTS/);
    await cliOk(['webhook', 'remove', added.id, '--tenant', tenant], { env });
    assert.deepEqual(await cliJson(['webhook', 'list', '--tenant', tenant], { env }), []);
    assertOneLineFailure(await cli(['webhook', 'remove', added.id, '--tenant', tenant], { env }), EXIT.notFound);
  });
});
