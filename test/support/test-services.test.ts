import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

// Decision 0020: without PostgreSQL and Redis the tests needing them are skipped and named in one
// line; with TRUSTGATE_TEST_REQUIRE_SERVICES=1 (.ci/run) their absence fails the run.

const fixture = fileURLToPath(new URL('./fixtures/needs-services.ts', import.meta.url));
const setup = fileURLToPath(new URL('./test-services-setup.ts', import.meta.url));
// Port 1: nothing listens there.
const closed = { TRUSTGATE_TEST_POSTGRES_URL: 'postgres://root@127.0.0.1:1/test', TRUSTGATE_TEST_REDIS_URL: 'redis://127.0.0.1:1' };

const runTests = (args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const { TRUSTGATE_TEST_REQUIRE_SERVICES: _, NODE_TEST_CONTEXT: __, ...inherited } = process.env;
    execFile(process.execPath, ['--test', '--test-reporter=spec', ...args, fixture], { env: { ...inherited, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });

describe('tests needing PostgreSQL and Redis on a machine without them', { timeout: 60_000 }, () => {
  test('are skipped, counted, and named in one line after the summary saying how to run them; the run passes', async () => {
    const { code, stdout } = await runTests([`--test-global-setup=${setup}`], closed);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /﹣ a suite needing PostgreSQL and Redis .*# PostgreSQL \(postgres:\/\/root@127\.0\.0\.1:1\/test\) and Redis \(redis:\/\/127\.0\.0\.1:1\) not reachable/);
    assert.match(stdout, /skipped 1\n/);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.at(-1),
      'skipped the PostgreSQL-dialect, Redis and cluster tests: PostgreSQL (postgres://root@127.0.0.1:1/test) and Redis (redis://127.0.0.1:1) not reachable; '
      + 'to run them, start PostgreSQL and Redis and point TRUSTGATE_TEST_POSTGRES_URL / TRUSTGATE_TEST_REDIS_URL at them, or run .ci/run');
  });

  test('fail the run with TRUSTGATE_TEST_REQUIRE_SERVICES=1, naming what is missing', async () => {
    const { code, stdout, stderr } = await runTests([`--test-global-setup=${setup}`], { ...closed, TRUSTGATE_TEST_REQUIRE_SERVICES: '1' });
    assert.notEqual(code, 0, stdout);
    assert.match(stderr, /TRUSTGATE_TEST_REQUIRE_SERVICES=1 but PostgreSQL \(postgres:\/\/root@127\.0\.0\.1:1\/test\) and Redis \(redis:\/\/127\.0\.0\.1:1\) cannot be reached/);
  });

  test('fail a test file run alone with TRUSTGATE_TEST_REQUIRE_SERVICES=1 (one failing test per suite, not ECONNREFUSED)', async () => {
    const { code, stdout } = await runTests([], { ...closed, TRUSTGATE_TEST_REQUIRE_SERVICES: '1' });
    assert.equal(code, 1, stdout);
    assert.match(stdout, /✖ a suite needing PostgreSQL and Redis/);
    assert.match(stdout, /TRUSTGATE_TEST_REQUIRE_SERVICES=1 but PostgreSQL .* not reachable/);
    assert.doesNotMatch(stdout, /this suite ran/);
  });
});
