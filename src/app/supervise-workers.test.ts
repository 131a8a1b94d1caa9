import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ConfigError } from '../config/index.ts';
import { MAX_FAILED_STARTS, superviseWorkers, WorkerStartError, type SuperviseWorkersOptions } from './supervise-workers.ts';

// The supervisor's policy with stand-in workers (tiny scripts, no trustgate): the real CLI with
// real workers is test/cluster/serve-workers.test.ts.
const WORKERS: Record<string, string> = {
  failsAtStart: 'process.exit(3);',
  // Ready, then dies at once: every restart fails again.
  crashes: 'process.send({ type: "trustgate.workerReady", httpPort: 1, mqttPort: 2 }); setTimeout(() => process.exit(1), 20);',
  // Ready, serves until SIGTERM, exits 0.
  serves: 'process.on("SIGTERM", () => process.exit(0)); process.send({ type: "trustgate.workerReady", httpPort: 1, mqttPort: 2 }); setInterval(() => {}, 1000);',
  // Writes the settings it was given next to itself, then serves.
  reportsSettings: 'import { writeFileSync } from "node:fs"; const e = process.env; writeFileSync(new URL(`./${e.TRUSTGATE_NODE_ID}.json`, import.meta.url), JSON.stringify({ args: process.argv.slice(2), workers: e.TRUSTGATE_WORKERS, mqtt: e.TRUSTGATE_MQTT_PORT, http: e.TRUSTGATE_HTTP_PORT })); process.on("SIGTERM", () => process.exit(0)); process.send({ type: "trustgate.workerReady", httpPort: 8081, mqttPort: 8884 }); setInterval(() => {}, 1000);',
};

describe('superviseWorkers', { timeout: 60_000 }, () => {
  let dir: string;
  const options = (worker: string, overrides: Partial<SuperviseWorkersOptions> = {}): SuperviseWorkersOptions => ({
    count: 2, baseNodeId: 'box', mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 },
    entry: join(dir, `${worker}.mjs`), args: () => [], execArgv: [], logger: pino({ level: process.env.DEBUG_SUPERVISOR ? 'info' : 'silent' }), restartDelayMs: 10, ...overrides,
  });
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-supervisor-'));
    for (const [name, source] of Object.entries(WORKERS)) await writeFile(join(dir, `${name}.mjs`), source);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('refuses to run on a platform whose SO_REUSEPORT does not balance', async () => {
    for (const platform of ['darwin', 'win32', 'freebsd'] as const) {
      await assert.rejects(superviseWorkers(options('serves', { platform })),
        (error: unknown) => error instanceof ConfigError && error.message.includes('needs Linux') && error.message.includes(platform));
    }
  });

  it('a worker that fails at the first start fails the start with its exit code', async () => {
    await assert.rejects(superviseWorkers(options('failsAtStart')),
      (error: unknown) => error instanceof WorkerStartError && error.exitCode === 3 && /worker 0 \(box-w0\) exited with code 3 before it listened/.test(error.message));
  });

  it(`restarts a worker that dies, and gives up with a non-zero code after ${MAX_FAILED_STARTS} failures in a row`, async () => {
    const running = await superviseWorkers(options('crashes'));
    assert.equal(await running.finished, 1);
    assert.deepEqual(running.pids(), [undefined, undefined], 'every worker was stopped');
  });

  it('names worker i <base>-w<i>, runs it as one node, and gives the others the ports worker 0 got', async () => {
    const running = await superviseWorkers(options('reportsSettings', { count: 3, args: (index) => ['serve', '--worker', String(index)] }));
    running.stop();
    assert.equal(await running.finished, 0);
    const settings = await Promise.all([0, 1, 2].map(async (i) => JSON.parse(await readFile(join(dir, `box-w${i}.json`), 'utf8'))));
    assert.deepEqual(settings[0], { args: ['serve', '--worker', '0'], workers: '1', mqtt: '0', http: '0' });
    assert.deepEqual(settings[2], { args: ['serve', '--worker', '2'], workers: '1', mqtt: '8884', http: '8081' });
  });

  it('stop() sends SIGTERM to every worker and finishes with 0 once they exited cleanly', async () => {
    const running = await superviseWorkers(options('serves'));
    const pids = running.pids();
    assert.equal(pids.filter((pid) => pid !== undefined).length, 2);
    running.stop();
    assert.equal(await running.finished, 0);
    for (const pid of pids) assert.throws(() => process.kill(pid!, 0), 'the worker is gone');
  });
});
