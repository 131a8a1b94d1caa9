import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../../test/support/run-cli.ts';
import { EXIT } from './cli-error.ts';

// `trustgate serve` on a port another program holds: one line naming the variable to change and
// exit 75 (EX_TEMPFAIL), not "unexpected error … EADDRINUSE" with 70, which means a bug.

describe('trustgate serve when it cannot listen', { concurrency: true, timeout: 120_000 }, () => {
  let root: string;
  let occupier: Server;
  let port: number;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-serve-port-'));
    occupier = createServer();
    await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
    port = (occupier.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((resolve) => occupier?.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  const serve = (name: string, ports: { http: number; mqtt: number }, httpHost = '127.0.0.1') => cli(['serve'], {
    env: {
      TRUSTGATE_DATA_DIR: join(root, name), TRUSTGATE_LOG_LEVEL: 'error',
      TRUSTGATE_HTTP_HOST: httpHost, TRUSTGATE_HTTP_PORT: String(ports.http),
      TRUSTGATE_MQTT_HOST: '127.0.0.1', TRUSTGATE_MQTT_PORT: String(ports.mqtt),
    },
    timeoutMs: 90_000,
  });

  const assertOneLine = (result: { code: number | null; stderr: string }, expected: string, exitCode: number = EXIT.conflict) => {
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    assert.deepEqual(lines, [expected], `exit ${result.code}; stderr: ${result.stderr}`);
    assert.equal(result.code, exitCode, `exit code; stderr: ${result.stderr}`);
  };

  test('the REST API\'s port: exit 75, one line naming TRUSTGATE_HTTP_PORT', async () => {
    assertOneLine(await serve('http', { http: port, mqtt: 0 }),
      `trustgate: the REST API cannot listen on 127.0.0.1:${port}: port ${port} is already in use (another trustgate, or another program). `
      + 'Stop it, or set TRUSTGATE_HTTP_PORT to a free port (0 = any free port)');
  });

  test('the MQTT broker\'s port: exit 75, one line naming TRUSTGATE_MQTT_PORT', async () => {
    assertOneLine(await serve('mqtt', { http: 0, mqtt: port }),
      `trustgate: the MQTT broker cannot listen on 127.0.0.1:${port}: port ${port} is already in use (another trustgate, or another program). `
      + 'Stop it, or set TRUSTGATE_MQTT_PORT to a free port (0 = any free port)');
  });

  test('an address this machine does not have (TEST-NET 192.0.2.1): exit 78, one line naming TRUSTGATE_HTTP_HOST', async () => {
    assertOneLine(await serve('address', { http: 0, mqtt: 0 }, '192.0.2.1'),
      'trustgate: the REST API cannot listen on 192.0.2.1:0: this machine has no address 192.0.2.1. Set TRUSTGATE_HTTP_HOST to one of its addresses, or 0.0.0.0 for all',
      EXIT.config);
  });
});
