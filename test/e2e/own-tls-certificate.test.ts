import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { brokerRootCaProfile, issueCertificate, issueServerCertificate } from '../../src/pki/index.ts';
import { cli } from '../support/run-cli.ts';
import { spawnServer } from '../support/spawn-server.ts';

// Issue 14, item 4: a broker with the operator's own TLS certificate (TRUSTGATE_TLS_CERT_FILE /
// _KEY_FILE) has no broker root CA. GET /broker-ca.pem answers 404 with a code of its own naming the
// certificate's issuer, `trustgate broker-ca` says what agents trust instead (exit 67, not the 69 of
// a server that is down), and `trustgate backup` reminds the operator that their files are not in
// the data dir.

const dirs: string[] = [];
after(async () => { await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))); });

test('own TLS certificate: no broker-* files, /broker-ca.pem 404 brokerCa.notGenerated, broker-ca exit 67 naming the issuer, backup notes the files', { timeout: 90_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'trustgate-own-tls-e2e-'));
  dirs.push(dir);
  const root = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'Plant Issuing CA' }, key: 'p256', validityDays: 100, now: new Date() });
  const leaf = await issueServerCertificate({ issuer: root, hostnames: ['localhost'], validityDays: 90, now: new Date() });
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  await writeFile(certFile, leaf.certificatePem + root.certificatePem);
  await writeFile(keyFile, leaf.privateKeyPem, { mode: 0o600 });
  const dataDir = join(dir, 'data');
  const server = await spawnServer({ dataDir, env: { TRUSTGATE_TLS_CERT_FILE: certFile, TRUSTGATE_TLS_KEY_FILE: keyFile }, t });

  assert.deepEqual((await readdir(dataDir)).filter((file) => file.startsWith('broker-')), [], 'no broker root CA or server files in the data dir');
  const answer = await fetch(`${server.url}/broker-ca.pem`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(answer.status, 404);
  const [error] = ((await answer.json()) as { errors: { code: string; message: string }[] }).errors;
  assert.equal(error?.code, 'brokerCa.notGenerated');
  assert.match(error?.message ?? '', /issued by "CN=Plant Issuing CA"/);

  const brokerCa = await cli(['broker-ca', '--url', server.url]);
  assert.equal(brokerCa.code, 67, brokerCa.stderr);
  assert.equal(brokerCa.stdout, '');
  assert.match(brokerCa.stderr, /^trustgate: This broker uses the operator's own TLS certificate \(TRUSTGATE_TLS_CERT_FILE\), issued by "CN=Plant Issuing CA".* Give agents that CA's certificate \(PEM\) as their broker CA.*\(brokerCa\.notGenerated\)\n$/);

  const backup = await cli(['backup', '--out', join(dir, 'backup')], { env: { TRUSTGATE_DATA_DIR: dataDir } });
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /no broker root CA in the data dir: the server uses your own TLS files/);
  assert.equal(await server.stop(), 0);
});
