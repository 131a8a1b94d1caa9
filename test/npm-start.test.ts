import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// `npm start` runs the server as bin/trustgate does: the package's Node 24 with the same memory
// settings (MALLOC_MMAP_THRESHOLD_=65536: ~30 KiB less RSS per idle agent, decision 0012), not a
// node command line of its own that could drift from the bin's.

const root = join(import.meta.dirname, '..');

test('npm start runs bin/trustgate serve: the server process gets MALLOC_MMAP_THRESHOLD_ and the package\'s Node', { timeout: 90_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'trustgate-npm-start-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? dataDir,
    TRUSTGATE_DATA_DIR: dataDir, TRUSTGATE_HTTP_HOST: '127.0.0.1', TRUSTGATE_HTTP_PORT: '0', TRUSTGATE_MQTT_HOST: '127.0.0.1', TRUSTGATE_MQTT_PORT: '0',
    TRUSTGATE_LOG_FORMAT: 'json', TRUSTGATE_RATE_LIMITS: 'off',
  };
  // Without MALLOC_MMAP_THRESHOLD_ in its environment: the server must get it from the bin.
  const npm = spawn('npm', ['start', '--silent'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  try {
    const serverPid = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not listen within 60 s:\n${output}`)), 60_000);
      npm.once('exit', (code) => reject(new Error(`npm start exited (${code}):\n${output}`)));
      npm.stderr!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
      npm.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        const line = output.split('\n').find((l) => l.includes('trustgate HTTP API listening'));
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { pid: number }).pid);
        }
      });
    });
    const environment = (await readFile(`/proc/${serverPid}/environ`, 'utf8')).split('\0');
    assert.ok(environment.includes('MALLOC_MMAP_THRESHOLD_=65536'), 'the server process has bin/trustgate\'s malloc setting');
    const commandLine = (await readFile(`/proc/${serverPid}/cmdline`, 'utf8')).split('\0');
    assert.equal(commandLine[0], join(root, 'node_modules', 'node', 'bin', 'node'), 'the package\'s Node 24, as bin/trustgate runs it');
    assert.ok(commandLine.includes('serve'));
  } finally {
    // npm, its shell and the server: the whole process group.
    if (npm.pid !== undefined && npm.exitCode === null) {
      const exited = new Promise((resolve) => npm.once('exit', resolve));
      process.kill(-npm.pid, 'SIGTERM');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  }
});
