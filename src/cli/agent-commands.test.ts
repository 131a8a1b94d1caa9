import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { spawnServer, TRUSTGATE_BIN, type SpawnedServer } from '../../test/support/spawn-server.ts';
import { closesWithin, connectClient, endClient } from '../../test/support/broker-helpers.ts';
import { createCsr } from '../../test/support/test-pki.ts';
import { assertOneLineFailure, cli, cliJson, cliOk, closedPortUrl } from '../../test/support/run-cli.ts';
import { EXIT } from './cli-error.ts';

// `trustgate agent ...` as a user runs it: `agent issue` locally (no server), then the agents API
// (list, disable, enable, delete) against a real server after an agent it issued connected.

const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe('trustgate agent', { timeout: 360_000, concurrency: 3 }, () => {
  let root: string;
  let ca: { cert: string; key: string; pem: string };
  let otherCa: { cert: string; key: string };
  let down: Record<string, string>;
  let dirCount = 0;
  const newDir = async () => {
    const dir = join(root, `work-${++dirCount}`);
    await mkdir(dir);
    return dir;
  };
  const issueArgs = (...extra: string[]) => ['agent', 'issue', '--ca-cert', ca.cert, '--ca-key', ca.key, '--tenant', 'acme', ...extra];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-cli-agent-'));
    // Issuing needs no server: every local test runs with a URL nobody answers.
    down = { TRUSTGATE_URL: await closedPortUrl() };
    await cliOk(['ca', 'create', '--tenant', 'acme'], { cwd: root });
    await cliOk(['ca', 'create', '--tenant', 'other'], { cwd: root });
    ca = { cert: join(root, 'acme-ca.pem'), key: join(root, 'acme-ca.key'), pem: await readFile(join(root, 'acme-ca.pem'), 'utf8') };
    otherCa = { cert: join(root, 'other-ca.pem'), key: join(root, 'other-ca.key') };
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('agent issue --name pump-1: key (0600), certificate, chain, client id; a clientAuth certificate of the CA; no server needed', async () => {
    const cwd = await newDir();
    const result = await cliOk(issueArgs('--name', 'pump-1'), { cwd, env: down });
    assert.deepEqual((await readdir(cwd)).sort(), ['pump-1-chain.pem', 'pump-1.clientid', 'pump-1.key', 'pump-1.pem']);
    assert.equal((await stat(join(cwd, 'pump-1.key'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(cwd, 'pump-1.pem'))).mode & 0o777, 0o644);
    assert.equal(await readFile(join(cwd, 'pump-1.clientid'), 'utf8'), 'acme_pump-1', 'exactly the client id, no newline');
    const pem = await readFile(join(cwd, 'pump-1.pem'), 'utf8');
    assert.equal(await readFile(join(cwd, 'pump-1-chain.pem'), 'utf8'), pem + ca.pem);
    const certificate = new X509Certificate(pem);
    const caCertificate = new X509Certificate(ca.pem);
    assert.equal(certificate.subject, 'CN=pump-1');
    assert.ok(certificate.checkIssued(caCertificate) && certificate.verify(caCertificate.publicKey), 'signed by the CA');
    assert.equal(certificate.ca, false);
    assert.deepEqual(certificate.keyUsage, [OID_CLIENT_AUTH]);
    assert.ok(certificate.checkPrivateKey(createPrivateKey(await readFile(join(cwd, 'pump-1.key')))));
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'EC P-256 by default');
    assert.ok(Math.abs(certificate.validToDate.getTime() - Date.now() - 365 * 86_400_000) < 120_000, '--days 365 by default');
    assert.match(result.stdout, /^issued agent certificate "pump-1" \(EC P-256, valid until \d{4}-\d\d-\d\d\); client id acme_pump-1\n/);
    assert.match(result.stdout, /mosquitto_pub --cafile broker-ca\.pem --cert pump-1\.pem --key pump-1\.key -i acme_pump-1 -t tc\/acme\/acme_pump-1\/o\/hello/);
    // No server to ask where the broker is: placeholders and how to fix them, never a guessed 8883.
    assert.match(result.stdout, / -h <broker host> -p <broker port>\n {2}\(broker-ca\.pem: .*; the broker's host and port: trustgate serve at http:\/\/127\.0\.0\.1:\d+ did not answer, set --url or TRUSTGATE_URL to ask it\)\n$/);
    assert.equal(result.stderr, '');
  });

  test('agent issue asks the server where the broker is (GET /broker.json): its port, and the --url\'s host when the broker certificate names it', async () => {
    let info: unknown = { port: 18883, hostnames: ['broker.example.com', '127.0.0.1'], rootCaPath: '/broker-ca.pem' };
    const fake = createServer((request, response) => {
      if (info === 'hang') return; // a server that never answers: agent issue gives up after 3 s
      if (request.url !== '/broker.json') return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(info));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const env = { TRUSTGATE_URL: `http://127.0.0.1:${(fake.address() as AddressInfo).port}` };
      const connectLine = async (name: string) => (await cliOk(issueArgs('--name', name), { cwd: await newDir(), env })).stdout.split('\n').filter((line) => /^connect: |^ {2}\(/.test(line));
      assert.deepEqual(await connectLine('port-1'), [
        'connect: mosquitto_pub --cafile broker-ca.pem --cert port-1.pem --key port-1.key -i acme_port-1 -t tc/acme/acme_port-1/o/hello -m hi -h 127.0.0.1 -p 18883',
        '  (broker-ca.pem: trustgate broker-ca --out broker-ca.pem)',
      ]);
      // A --url host the certificate does not name: its first name (mosquitto checks the name); the operator's own certificate: no broker-ca.
      info = { port: 8884, hostnames: ['mqtt.example.org', '*.example.org'], rootCaPath: null };
      assert.deepEqual(await connectLine('port-2'), [
        'connect: mosquitto_pub --cafile broker-ca.pem --cert port-2.pem --key port-2.key -i acme_port-2 -t tc/acme/acme_port-2/o/hello -m hi -h mqtt.example.org -p 8884',
        '  (broker-ca.pem: the CA that issued the broker\'s own TLS certificate (TRUSTGATE_TLS_CERT_FILE); trustgate broker-ca names it)',
      ]);
      // Not a trustgate answer: placeholders, as without a server.
      info = { port: 'many' };
      assert.match((await connectLine('port-3'))[0]!, / -h <broker host> -p <broker port>$/);
      // A hostile answer: nothing but a host name goes into a line people paste into a shell.
      info = { port: 8883, hostnames: ['x; rm -rf ~', '$(reboot)', 'a b', 'ok.example.net'], rootCaPath: '/broker-ca.pem' };
      assert.match((await connectLine('port-4'))[0]!, / -m hi -h ok\.example\.net -p 8883$/);
      // A malformed --url: the files are written all the same (exit 0), the line keeps placeholders.
      const malformed = await cliOk(issueArgs('--name', 'port-5', '--url', 'ftp://x'), { cwd: await newDir(), env });
      assert.match(malformed.stdout, / -h <broker host> -p <broker port>\n/);
      info = 'hang';
      assert.match((await connectLine('port-6'))[0]!, / -h <broker host> -p <broker port>$/);
    } finally {
      fake.closeAllConnections();
      await new Promise((resolve) => fake.close(resolve));
    }
  });

  test('agent issue --json --key-type rsa2048 --days 30 --out-dir: the paths, the client id, an RSA 2048 key', async () => {
    const cwd = await newDir();
    const printed = await cliJson(issueArgs('--name', 'rsa-1', '--key-type', 'rsa2048', '--days', '30', '--out-dir', 'certs'), { cwd, env: down });
    assert.equal(printed.clientId, 'acme_rsa-1');
    assert.equal(printed.keyType, 'rsa2048');
    assert.deepEqual(printed.files, {
      key: join(cwd, 'certs', 'rsa-1.key'), certificate: join(cwd, 'certs', 'rsa-1.pem'),
      chain: join(cwd, 'certs', 'rsa-1-chain.pem'), clientId: join(cwd, 'certs', 'rsa-1.clientid'),
    });
    const key = createPrivateKey(await readFile(printed.files.key));
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    const certificate = new X509Certificate(await readFile(printed.files.certificate));
    assert.equal(certificate.fingerprint256.replaceAll(':', '').toLowerCase(), printed.fingerprintSha256);
    assert.equal(certificate.validToDate.toISOString(), printed.notAfter);
  });

  test('agent issue --csr: signs the device\'s key, writes no key file; the CN comes from the CSR unless --name says otherwise', async () => {
    const cwd = await newDir();
    const csr = await createCsr({ subject: 'CN=sensor-7' });
    await writeFile(join(cwd, 'sensor.csr'), csr.csrPem);
    const printed = await cliJson(issueArgs('--csr', 'sensor.csr'), { cwd, env: down });
    assert.equal(printed.clientId, 'acme_sensor-7');
    assert.equal(printed.files.key, null);
    assert.equal(printed.keyType, null);
    assert.deepEqual((await readdir(cwd)).sort(), ['sensor-7-chain.pem', 'sensor-7.clientid', 'sensor-7.pem', 'sensor.csr']);
    const certificate = new X509Certificate(await readFile(join(cwd, 'sensor-7.pem')));
    const devicePublicKey = createPublicKey(createPrivateKey(csr.privateKeyPem));
    assert.ok(certificate.publicKey.equals(devicePublicKey), 'the certificate holds the device\'s key');

    const renamed = await cliOk(issueArgs('--csr', 'sensor.csr', '--name', 'sensor-8'), { cwd, env: down });
    assert.match(renamed.stderr, /the CSR asks for CN "sensor-7"; the certificate gets CN "sensor-8"/);
    assert.equal(new X509Certificate(await readFile(join(cwd, 'sensor-8.pem'))).subject, 'CN=sensor-8');

    await writeFile(join(cwd, 'bad.csr'), '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n');
    assertOneLineFailure(await cli(issueArgs('--csr', 'bad.csr', '--name', 'x'), { cwd, env: down }), EXIT.dataError, /^trustgate: --csr bad\.csr: .*\(csr\.invalid\)$/);
    assertOneLineFailure(await cli(issueArgs('--csr', 'missing.csr'), { cwd, env: down }), EXIT.noInput, /--csr missing\.csr: no such file/);
    assertOneLineFailure(await cli(issueArgs('--csr', 'sensor.csr', '--key-type', 'p256'), { cwd, env: down }), EXIT.usage, /--key-type and --csr exclude each other/);
  });

  test('agent issue --count 20 --prefix: 20 agents, 80 files, JSON lists them; no progress bar when stderr is not a terminal', async () => {
    const cwd = await newDir();
    const result = await cliOk(issueArgs('--count', '20', '--prefix', 'pump-', '--json'), { cwd, env: down });
    assert.equal(result.stderr, '', 'no progress bar on a pipe, nothing else either');
    const printed = JSON.parse(result.stdout);
    assert.equal(printed.count, 20);
    assert.deepEqual(printed.agents.map((a: { clientId: string }) => a.clientId), Array.from({ length: 20 }, (_, i) => `acme_pump-${i + 1}`));
    assert.ok(printed.perSecond > 0);
    const files = await readdir(cwd);
    assert.equal(files.length, 80);
    for (let i = 1; i <= 20; i++) assert.equal((await stat(join(cwd, `pump-${i}.key`))).mode & 0o777, 0o600);
    const human = await cliOk(issueArgs('--count', '3', '--prefix', 'valve-', '--key-type', 'p384'), { cwd, env: down });
    assert.match(human.stdout, /^issued 3 agent certificates valve-1 \.\. valve-3 \(EC P-384\) in \d+\.\d s \(\d+\.\d per second\)\n/);
  });

  test('agent issue --count 20 on a terminal shows a progress bar on stderr', { skip: process.platform !== 'linux' && 'needs util-linux script' }, async () => {
    const cwd = await newDir();
    const command = [TRUSTGATE_BIN, ...issueArgs('--count', '20', '--prefix', 'tty-')].map((arg) => `'${arg}'`).join(' ');
    // script(1) runs the command on a pseudo-terminal, as a person at a terminal would.
    const output = await new Promise<string>((resolve, reject) => {
      execFile('script', ['-qefc', command, '/dev/null'], { cwd, env: { ...process.env, ...down, COLUMNS: '120' }, timeout: 60_000 }, (error, stdout) => {
        if (error) reject(new Error(`${error.message}\n${stdout}`));
        else resolve(stdout);
      });
    });
    assert.match(output, /issuing .*20\/20/, output);
    assert.match(output, /issued 20 agent certificates tty-1 \.\. tty-20/);
    assert.equal((await readdir(cwd)).length, 80);
  });

  test('agent issue refuses to overwrite (73) and writes nothing; --force replaces', async () => {
    const cwd = await newDir();
    await cliOk(issueArgs('--name', 'pump-1'), { cwd, env: down });
    const key = await readFile(join(cwd, 'pump-1.key'), 'utf8');
    assertOneLineFailure(await cli(issueArgs('--name', 'pump-1'), { cwd, env: down }), EXIT.cantCreate, /pump-1\.key already exists; add --force to overwrite it$/);
    assert.equal(await readFile(join(cwd, 'pump-1.key'), 'utf8'), key);
    // One existing name among twenty: nothing is written at all.
    assertOneLineFailure(await cli(issueArgs('--count', '20', '--prefix', 'pump-'), { cwd, env: down }), EXIT.cantCreate, /pump-1\.key already exists/);
    assert.equal((await readdir(cwd)).length, 4);
    await cliOk(issueArgs('--name', 'pump-1', '--force'), { cwd, env: down });
    assert.notEqual(await readFile(join(cwd, 'pump-1.key'), 'utf8'), key);
    assert.equal((await stat(join(cwd, 'pump-1.key'))).mode & 0o777, 0o600);
  });

  // Issue 13, item 5: the CLI issued "pump 1" and "pümpe" (the broker admitted acme_pump 1) while
  // POST /agentCertificates refused them. One rule now: refused before anything is read or written.
  test('agent issue refuses the names the API refuses (a space, non-ASCII): exit 64, nothing written', async () => {
    const cwd = await newDir();
    for (const name of ['pump 1', 'pümpe', 'a\u202eb']) {
      const result = await cli(issueArgs('--name', name), { cwd, env: down });
      assertOneLineFailure(result, EXIT.usage, /^trustgate: --name ".*" cannot be an agent name: it holds (a space|the non-ASCII character U\+00FC "ü"|the non-ASCII character U\+202E "\\u202e"); use 1-64 letters, digits, "\.", "_" or "-"/);
    }
    // The CA files need not even exist: the name is checked first.
    assertOneLineFailure(await cli(['agent', 'issue', '--name', 'pump 1', '--ca-cert', 'missing.pem', '--ca-key', 'missing.key', '--tenant', 'acme'], { cwd, env: down }), EXIT.usage, /cannot be an agent name/);
    // A device's CSR whose CN breaks the rule: refused the same way, pointing at --name.
    await writeFile(join(cwd, 'spaced.csr'), (await createCsr({ subject: 'CN=pump 1' })).csrPem);
    assertOneLineFailure(await cli(issueArgs('--csr', 'spaced.csr'), { cwd, env: down }), EXIT.usage,
      /^trustgate: the CN of --csr spaced\.csr \("pump 1"; give another with --name\) cannot be an agent name: it holds a space/);
    assert.deepEqual(await readdir(cwd), ['spaced.csr']);
  });

  test('agent issue failures: wrong CA key (65), not a CA (65), files missing (66) or not PEM (65), bad options (64)', async () => {
    const cwd = await newDir();
    await cliOk(issueArgs('--name', 'leaf'), { cwd, env: down });
    const issue = (...args: string[]) => cli(['agent', 'issue', '--tenant', 'acme', ...args], { cwd, env: down });
    assertOneLineFailure(await issue('--name', 'a', '--ca-cert', ca.cert, '--ca-key', otherCa.key), EXIT.dataError,
      /--ca-key .*other-ca\.key is not the private key of --ca-cert .*acme-ca\.pem/);
    assertOneLineFailure(await issue('--name', 'a', '--ca-cert', 'leaf.pem', '--ca-key', 'leaf.key'), EXIT.dataError, /--ca-cert leaf\.pem is not a CA certificate/);
    assertOneLineFailure(await issue('--name', 'a', '--ca-cert', 'nope.pem', '--ca-key', ca.key), EXIT.noInput, /^trustgate: --ca-cert nope\.pem: no such file$/);
    assertOneLineFailure(await issue('--name', 'a', '--ca-cert', 'leaf.clientid', '--ca-key', ca.key), EXIT.dataError, /--ca-cert leaf\.clientid is not a PEM certificate/);
    assertOneLineFailure(await issue('--name', 'a', '--ca-cert', ca.cert, '--ca-key', ca.cert), EXIT.dataError, /--ca-key .* is not a PEM private key/);
    const bad = (...args: string[]) => issue('--ca-cert', ca.cert, '--ca-key', ca.key, ...args);
    assertOneLineFailure(await bad('--name', 'a/b'), EXIT.usage, /--name "a\/b" cannot be an agent name: it holds "\/"; use 1-64 letters, digits/);
    assertOneLineFailure(await bad('--name', 'x'.repeat(65)), EXIT.usage, /it has 65 characters, more than 64/);
    assertOneLineFailure(await bad('--count', '100', '--prefix', 'pump '), EXIT.usage, /^trustgate: --prefix "pump " makes names like "pump 100", which cannot be an agent name: it holds a space/);
    assertOneLineFailure(await bad(), EXIT.usage, /--name is required/);
    assertOneLineFailure(await bad('--count', '5'), EXIT.usage, /--count needs --prefix/);
    assertOneLineFailure(await bad('--count', '0', '--prefix', 'p'), EXIT.usage, /--count "0" is not a whole number from 1/);
    assertOneLineFailure(await bad('--name', 'a', '--prefix', 'p'), EXIT.usage, /--prefix goes with --count/);
    assertOneLineFailure(await bad('--name', 'a', '--key-type', 'ed25519'), EXIT.usage, /--key-type "ed25519"/);
    assertOneLineFailure(await cli(['agent', 'issue', '--name', 'a', '--ca-cert', ca.cert, '--ca-key', ca.key], { cwd, env: down }), EXIT.usage, /required option '--tenant <tenant>'/);
  });

  describe('against a server', () => {
    let server: SpawnedServer;
    let env: Record<string, string>;
    let brokerCa: string;
    const clients: MqttClient[] = [];

    before(async () => {
      server = await spawnServer({ dataDir: join(root, 'data'), startTimeoutMs: 60_000 });
      env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: join(root, 'data') };
      await cliOk(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--tenant', 'acme'], { env });
      brokerCa = (await cliOk(['broker-ca'], { env })).stdout;
    });
    after(async () => {
      await Promise.all(clients.map(endClient));
      await server?.stop();
    });

    const connectAgent = async (dir: string, name: string): Promise<MqttClient> => {
      const client = await connectClient(`mqtts://localhost:${server.mqttPort}`, {
        ca: brokerCa, cert: await readFile(join(dir, `${name}.pem`)), key: await readFile(join(dir, `${name}.key`)),
        clientId: await readFile(join(dir, `${name}.clientid`), 'utf8'), reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5_000,
      }, `agent ${name}`);
      clients.push(client);
      return client;
    };

    test('agent list, disable (closes the session, refuses it), enable, delete — by client id or id', async () => {
      const cwd = await newDir();
      await cliOk(issueArgs('--name', 'pump-9'), { cwd, env: down });
      assert.match((await cliOk(['agent', 'list', '--tenant', 'acme'], { env })).stdout, /^no agents yet/);
      const client = await connectAgent(cwd, 'pump-9');
      const [listed] = await cliJson(['agent', 'list', '--tenant', 'acme'], { env });
      assert.equal(listed.clientId, 'acme_pump-9');
      assert.equal(listed.online, true);
      const table = (await cliOk(['agent', 'list', '--tenant', 'acme'], { env })).stdout.split('\n');
      assert.match(table[0]!, /^ID\s+CLIENT ID\s+ENABLED\s+ONLINE\s+LAST CONNECTED\s+CERTIFICATE EXPIRES$/);
      assert.match(table[1]!, new RegExp(`^${listed.id}\\s+acme_pump-9\\s+yes\\s+yes\\s+\\d{4}-`));

      assert.equal((await cliOk(['agent', 'disable', 'acme_pump-9', '--tenant', 'acme'], { env })).stdout, `disabled agent acme_pump-9 (${listed.id})\n`);
      // Counted from the CLI's answer: starting a CLI process takes seconds on a loaded machine.
      assert.equal(await closesWithin(client, 2_000), true, 'disabling closes the live session');
      await assert.rejects(connectAgent(cwd, 'pump-9'), (error: { code?: number }) => error.code === 5);

      const enabled = await cliJson(['agent', 'enable', listed.id, '--tenant', 'acme'], { env });
      assert.equal(enabled.enabled, true);
      await connectAgent(cwd, 'pump-9');

      assert.deepEqual(await cliJson(['agent', 'delete', 'acme_pump-9', '--tenant', 'acme'], { env }), { id: listed.id, deleted: true });
      assertOneLineFailure(await cli(['agent', 'delete', listed.id, '--tenant', 'acme'], { env }), EXIT.notFound, /List yours with "trustgate agent list"\. \(agent\.notFound\)$/);
      assertOneLineFailure(await cli(['agent', 'disable', 'acme_nobody', '--tenant', 'acme'], { env }), EXIT.notFound, /no agent with client id "acme_nobody"/);
    });
  });
});
