import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type SpawnedServer } from '../../test/support/spawn-server.ts';
import { opensslCrl } from '../../test/support/openssl-crl.ts';
import { assertOneLineFailure, cli, cliJson, cliOk } from '../../test/support/run-cli.ts';
import { EXIT } from './cli-error.ts';

// `trustgate ca revoke|unrevoke|revocations|crl` as a user runs them against a real server: the
// doctor (the broker's own admission checks) tells whether the revocation is enforced.

describe('trustgate ca revoke, unrevoke, revocations, crl', { timeout: 240_000 }, () => {
  let server: SpawnedServer;
  let root: string;
  let env: Record<string, string>;
  let caId: string;
  const tenant = 'revoking';
  const doctorAccepts = async (cert: string): Promise<boolean> => {
    const result = await cli(['doctor', '--cert', cert, '--tenant', tenant, '--json'], { cwd: root, env });
    assert.ok(result.code === 0 || result.code === EXIT.refused, result.stderr);
    return JSON.parse(result.stdout).wouldBeAccepted;
  };
  const serialOf = async (cert: string): Promise<string> => new X509Certificate(await readFile(join(root, cert))).serialNumber;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-cli-revoke-'));
    server = await spawnServer({ dataDir: join(root, 'data') });
    env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: join(root, 'data') };
    await cliOk(['ca', 'create', '--tenant', tenant], { cwd: root, env });
    caId = (await cliJson(['ca', 'register', '--cert', `${tenant}-ca.pem`, '--key', `${tenant}-ca.key`, '--tenant', tenant], { cwd: root, env })).id;
    for (const name of ['pump-1', 'pump-2', 'pump-3']) {
      await cliOk(['agent', 'issue', '--name', name, '--ca-cert', `${tenant}-ca.pem`, '--ca-key', `${tenant}-ca.key`, '--tenant', tenant], { cwd: root, env });
    }
  });
  after(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test('revoke --cert: the doctor refuses it at once; revocations lists it; a final reason cannot be lifted', async () => {
    assert.equal(await doctorAccepts('pump-1.pem'), true, 'positive control: accepted before');
    const revoked = await cliJson(['ca', 'revoke', caId, '--cert', 'pump-1.pem', '--reason', 'keyCompromise', '--tenant', tenant], { cwd: root, env });
    assert.equal(revoked.reason, 'keyCompromise');
    assert.equal(await doctorAccepts('pump-1.pem'), false);
    assert.equal(await doctorAccepts('pump-2.pem'), true, 'only that serial');
    const listed = await cliJson(['ca', 'revocations', caId, '--tenant', tenant], { cwd: root, env });
    assert.deepEqual(listed.map((r: any) => r.serialNumber), [revoked.serialNumber]);
    const human = await cliOk(['ca', 'revocations', caId, '--tenant', tenant], { cwd: root, env });
    assert.match(human.stdout, new RegExp(`${revoked.serialNumber}\\s+keyCompromise`));
    assertOneLineFailure(await cli(['ca', 'unrevoke', caId, '--cert', 'pump-1.pem', '--tenant', tenant], { cwd: root, env }), EXIT.conflict);
    assert.equal(await doctorAccepts('pump-1.pem'), false, 'still revoked');
  });

  test('revoke --serial as openssl prints it (serial=…, colons, upper case), then unrevoke lifts a certificateHold', async () => {
    const hex = (await serialOf('pump-2.pem')).toUpperCase();
    const openSslStyle = `serial=${hex.match(/../g)!.join(':')}`;
    await cliOk(['ca', 'revoke', caId, '--serial', openSslStyle, '--reason', 'certificateHold', '--tenant', tenant], { cwd: root, env });
    assert.equal(await doctorAccepts('pump-2.pem'), false);
    const lifted = await cliOk(['ca', 'unrevoke', caId, '--serial', hex, '--tenant', tenant], { cwd: root, env });
    assert.match(lifted.stdout, /lifted the hold/);
    assert.equal(await doctorAccepts('pump-2.pem'), true);
  });

  test('crl --import enforces the CRL and crl shows its state', async () => {
    const crl = await opensslCrl({
      caCertificatePem: await readFile(join(root, `${tenant}-ca.pem`), 'utf8'), caPrivateKeyPem: await readFile(join(root, `${tenant}-ca.key`), 'utf8'),
      revoked: [{ serial: await serialOf('pump-3.pem'), reason: 'superseded' }], crlNumber: 7,
    });
    await writeFile(join(root, 'crl.pem'), crl);
    assert.equal(await doctorAccepts('pump-3.pem'), true, 'positive control');
    const imported = await cliJson(['ca', 'crl', caId, '--import', 'crl.pem', '--tenant', tenant], { cwd: root, env });
    assert.equal(imported.entryCount, 1);
    assert.equal(imported.crlNumber, '7');
    assert.equal(await doctorAccepts('pump-3.pem'), false);
    const shown = await cliOk(['ca', 'crl', caId, '--tenant', tenant], { cwd: root, env });
    assert.match(shown.stdout, /entries\s+1/);
    assert.match(shown.stdout, /stale\s+no/);
  });

  test('bad input: one line, its exit code, nothing sent', async () => {
    assertOneLineFailure(await cli(['ca', 'revoke', caId, '--tenant', tenant], { cwd: root, env }), EXIT.usage, /exactly one of --serial/);
    assertOneLineFailure(await cli(['ca', 'revoke', caId, '--serial', 'xyz', '--tenant', tenant], { cwd: root, env }), EXIT.usage, /hexadecimal/);
    assertOneLineFailure(await cli(['ca', 'revoke', caId, '--serial', '01', '--reason', 'removeFromCRL', '--tenant', tenant], { cwd: root, env }), EXIT.usage, /--reason must be one of/);
    assertOneLineFailure(await cli(['ca', 'revoke', caId, '--cert', `${tenant}-ca.key`, '--tenant', tenant], { cwd: root, env }), EXIT.dataError, /private key/);
    // Another tenant's CA is not found, like a missing one.
    assertOneLineFailure(await cli(['ca', 'revocations', caId, '--tenant', 'someone-else'], { cwd: root, env }), EXIT.notFound);
    assertOneLineFailure(await cli(['ca', 'crl', caId, '--import', 'pump-2.pem', '--tenant', tenant], { cwd: root, env }), EXIT.dataError);
  });
});
