import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connectClient, endClient, MessageLog } from '../support/broker-helpers.ts';
import { spawnServer, TRUSTGATE_BIN, type SpawnedServer } from '../support/spawn-server.ts';
import { run, type RunResult } from './e2e-helpers.ts';

// Issue 4, item 1: from an empty directory to a connected agent in four commands, none of them
// OpenSSL: the PATH holds only trustgate, mosquitto_pub and the few coreutils a shell needs.

const TOOLS = ['sh', 'cat', 'readlink', 'dirname', 'mosquitto_pub'];

const which = async (tool: string): Promise<string> => {
  const found = await run('/bin/sh', ['-c', `command -v ${tool}`]);
  assert.equal(found.code, 0, `${tool} must be installed for this test`);
  return found.stdout.trim();
};

describe('the four-command path', { timeout: 120_000 }, () => {
  let root: string;
  let server: SpawnedServer | undefined;
  let application: MqttClient | undefined;

  after(async () => {
    if (application) await endClient(application);
    await server?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('an agent connects in four commands without OpenSSL', async (t) => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-e2e-four-'));
    const bin = join(root, 'bin');
    const work = join(root, 'work');
    const dataDir = join(root, 'data');
    await mkdir(bin);
    await mkdir(work);
    for (const tool of TOOLS) await symlink(await which(tool), join(bin, tool));
    await symlink(TRUSTGATE_BIN, join(bin, 'trustgate'));
    const env = { PATH: bin, HOME: root, TRUSTGATE_DATA_DIR: dataDir };
    const noOpenssl = await run('/bin/sh', ['-c', 'command -v openssl'], { env });
    assert.notEqual(noOpenssl.code, 0, `openssl must not be on the PATH: ${noOpenssl.stdout}`);
    assert.deepEqual(await readdir(work), [], 'an empty directory');

    const timings: [string, number][] = [];
    let last = performance.now();
    const started = last;
    const lap = (what: string) => {
      const now = performance.now();
      timings.push([what, now - last]);
      last = now;
    };
    const sh = async (command: string): Promise<RunResult> => {
      const result = await run('/bin/sh', ['-c', command], { cwd: work, env: { ...env, TRUSTGATE_URL: server!.url } });
      assert.equal(result.code, 0, `${command}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      lap(command.split(' --')[0]!);
      return result;
    };

    // 0. The server (the user's `npm start`), on a PATH without OpenSSL as well.
    server = await spawnServer({ dataDir, env: { PATH: bin }, startTimeoutMs: 60_000 });
    lap('trustgate serve (until listening)');

    // 1-4: the four commands.
    await sh('trustgate ca create --tenant acme');
    const registered = await sh('trustgate ca register --cert acme-ca.pem --key acme-ca.key --name "acme CA" --tenant acme');
    assert.match(registered.stdout, /as [0-9a-f]{24}: isVerified true/);
    const issued = await sh('trustgate agent issue --name pump-1 --ca-cert acme-ca.pem --ca-key acme-ca.key --tenant acme');
    await sh('trustgate broker-ca --out broker-ca.pem');
    assert.equal((await stat(join(work, 'pump-1.key'))).mode & 0o777, 0o600);
    assert.equal(await readFile(join(work, 'pump-1.clientid'), 'utf8'), 'acme_pump-1');

    // The tenant's application, listening (not part of the user's path: its time is left out).
    const setupStarted = performance.now();
    const token = (await run(TRUSTGATE_BIN, ['token', '--tenant', 'acme'], { env })).stdout.trim();
    application = await connectClient(`mqtts://localhost:${server.mqttPort}`, {
      ca: await readFile(join(work, 'broker-ca.pem')), username: 'acme', password: token, clientId: 'acme_app-four-commands',
      reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5_000,
    }, 'the application');
    const log = new MessageLog(application);
    await application.subscribeAsync('tc/acme/#', { qos: 1 });
    last += performance.now() - setupStarted;

    // The agent publishes with the mosquitto_pub line `agent issue` printed, as printed: the broker
    // listens on a free port (not 8883), which the CLI asked the server for (issue 13, item 2).
    const connect = issued.stdout.split('\n').find((line) => line.startsWith('connect: '))?.slice('connect: '.length);
    assert.ok(connect, `agent issue printed a connect line: ${issued.stdout}`);
    assert.ok(connect.endsWith(`-h localhost -p ${server.mqttPort}`), connect);
    await sh(`${connect} -q 1`);
    const message = await log.next('tc/acme/acme_pump-1/o/hello', 5_000);
    assert.equal(message.payload.toString(), 'hi');
    const totalMs = timings.reduce((sum, [, ms]) => sum + ms, 0);
    assert.ok(totalMs <= performance.now() - started);

    const report = [
      ...timings.map(([what, ms]) => `${(ms / 1000).toFixed(2).padStart(6)} s  ${what}`),
      `${(totalMs / 1000).toFixed(2).padStart(6)} s  from an empty directory to a connected agent (server start included)`,
      `${((totalMs - timings[0]![1]) / 1000).toFixed(2).padStart(6)} s  the four commands and mosquitto_pub alone`,
    ];
    for (const line of report) t.diagnostic(line);
  });
});
