import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type SpawnedServer } from '../../test/support/spawn-server.ts';
import { assertOneLineFailure, cli, cliOk } from '../../test/support/run-cli.ts';
import { EXIT } from './cli-error.ts';
import { formatDiagnosis } from './doctor-command.ts';

// `trustgate doctor`: the server's dry run of the broker's admission, printed check by check;
// exit 0 when it would be accepted, 1 when it would be refused.

describe('trustgate doctor', { timeout: 120_000, concurrency: 3 }, () => {
  let root: string;
  let server: SpawnedServer;
  let env: Record<string, string>;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-cli-doctor-'));
    server = await spawnServer({ dataDir: join(root, 'data'), startTimeoutMs: 60_000 });
    env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: join(root, 'data') };
    for (const tenant of ['acme', 'unregistered']) await cliOk(['ca', 'create', '--tenant', tenant], { cwd: root });
    await cliOk(['ca', 'register', '--cert', 'acme-ca.pem', '--key', 'acme-ca.key', '--tenant', 'acme'], { cwd: root, env });
    await cliOk(['agent', 'issue', '--name', 'pump-1', '--ca-cert', 'acme-ca.pem', '--ca-key', 'acme-ca.key', '--tenant', 'acme'], { cwd: root });
    await cliOk(['agent', 'issue', '--name', 'stray', '--ca-cert', 'unregistered-ca.pem', '--ca-key', 'unregistered-ca.key', '--tenant', 'acme'], { cwd: root });
  });
  after(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test('a good certificate and client id: every step ✓, "would be accepted", exit 0', async () => {
    const result = await cliOk(['doctor', '--cert', 'pump-1.pem', '--client-id', 'acme_pump-1', '--tenant', 'acme'], { cwd: root, env });
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^✓ certificate\s+Subject "CN=pump-1"\.$/);
    for (const line of lines.slice(0, -1)) assert.match(line, /^✓ /, result.stdout);
    assert.equal(lines.at(-1), 'would be accepted with client id acme_pump-1');
  });

  test('the chain file works too; without --client-id the clientId step is skipped (–) and names the id to use', async () => {
    const result = await cliOk(['doctor', '--cert', 'pump-1-chain.pem', '--tenant', 'acme'], { cwd: root, env });
    assert.match(result.stdout, /^– clientId\s+.*"acme_pump-1"/m);
  });

  test('a wrong client id: ✗ on that step, "would be refused", exit 1; --json gives the diagnosis', async () => {
    const args = ['doctor', '--cert', 'pump-1.pem', '--client-id', 'acme_pump-2', '--tenant', 'acme'];
    const result = await cli(args, { cwd: root, env });
    assert.equal(result.code, EXIT.refused, result.stderr);
    assert.match(result.stdout, /^✗ clientId\s+The client id is "acme_pump-2" but must be "acme_pump-1"/m);
    assert.match(result.stdout, /\nwould be refused\n$/);
    const json = await cli([...args, '--json'], { cwd: root, env });
    assert.equal(json.code, EXIT.refused);
    const diagnosis = JSON.parse(json.stdout);
    assert.equal(diagnosis.wouldBeAccepted, false);
    assert.equal(diagnosis.steps.find((step: { check: string }) => step.check === 'clientId').status, 'failed');
  });

  test('a certificate of a CA the tenant never registered: refused at the issuer step, exit 1', async () => {
    const result = await cli(['doctor', '--cert', 'stray.pem', '--tenant', 'acme'], { cwd: root, env });
    assert.equal(result.code, EXIT.refused);
    assert.match(result.stdout, /^✗ issuer\s/m);
  });

  test('a key file or a non-PEM file as --cert: 65, and nothing is sent; a missing file: 66', async () => {
    await writeFile(join(root, 'notes.txt'), 'hello');
    assertOneLineFailure(await cli(['doctor', '--cert', 'pump-1.key', '--tenant', 'acme'], { cwd: root, env: { TRUSTGATE_URL: 'http://127.0.0.1:9' } }), EXIT.dataError, /holds a private key/);
    assertOneLineFailure(await cli(['doctor', '--cert', 'notes.txt', '--tenant', 'acme'], { cwd: root, env }), EXIT.dataError, /is not a PEM certificate/);
    assertOneLineFailure(await cli(['doctor', '--cert', 'nope.pem', '--tenant', 'acme'], { cwd: root, env }), EXIT.noInput, /no such file/);
  });

  test('formatDiagnosis aligns the checks and marks passed ✓, failed ✗, skipped –', () => {
    assert.deepEqual(formatDiagnosis({
      wouldBeAccepted: false, clientId: null,
      steps: [{ check: 'issuer', status: 'passed', message: 'ok' }, { check: 'clientId', status: 'failed', message: 'no' }, { check: 'x', status: 'skipped', message: 'later' }],
    }), ['✓ issuer    ok', '✗ clientId  no', '– x         later', 'would be refused']);
  });
});
