import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertOneLineFailure, cli, cliOk } from '../../test/support/run-cli.ts';
import { configSchema } from '../config/index.ts';
import { EXIT } from './cli-error.ts';

// The program as a whole: help, version, usage errors as one line with exit 64.

describe('trustgate (the program)', { concurrency: true, timeout: 60_000 }, () => {
  test('--help lists every command and says how a dev token is minted when no token is given', async () => {
    const { stdout } = await cliOk(['--help']);
    for (const command of ['serve', 'token', 'console', 'ca', 'agent', 'doctor', 'broker-ca', 'backup']) assert.match(stdout, new RegExp(`^  ${command}\\b`, 'm'));
    assert.match(stdout.replace(/\s+/g, ' '), /Without one, a command given --tenant mints a short-lived dev token from the local dev issuer in TRUSTGATE_DATA_DIR/);
    const ca = await cliOk(['ca', '--help']);
    for (const command of ['create', 'register', 'verify', 'list', 'show', 'delete']) assert.match(ca.stdout, new RegExp(`^  ${command}\\b`, 'm'));
    const agent = await cliOk(['agent', '--help']);
    for (const command of ['issue', 'list', 'disable', 'enable', 'delete']) assert.match(agent.stdout, new RegExp(`^  ${command}\\b`, 'm'));
  });

  test('serve --help lists every TRUSTGATE_* setting with its default and points to docs/config.md', async () => {
    const { stdout } = await cliOk(['serve', '--help']);
    assert.match(stdout, /docs\/config\.md/);
    for (const setting of Object.values(configSchema).flatMap((group) => Object.values(group))) assert.match(stdout, new RegExp(`^  ${setting.env} `, 'm'));
    assert.match(stdout, /^ {2}TRUSTGATE_HTTP_PORT +8080$/m);
    assert.match(stdout, /^ {2}TRUSTGATE_DATABASE_URL +unset$/m);
    assert.match(stdout, /^ {2}TRUSTGATE_LOG_FORMAT +auto$/m);
  });

  test('every command\'s --help shows the global options', async () => {
    const { stdout } = await cliOk(['agent', 'issue', '--help']);
    assert.match(stdout, /Global Options:[\s\S]*--url <url>[\s\S]*--token <jwt>[\s\S]*--json[\s\S]*--verbose/);
  });

  test('--version prints package.json\'s version', async () => {
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'));
    assert.equal((await cliOk(['--version'])).stdout, `${version}\n`);
  });

  test('serve with two invalid TRUSTGATE_* variables: exit 78 and one line per problem, nothing else', async () => {
    const result = await cli(['serve'], { env: { TRUSTGATE_HTTP_PORT: 'abc', TRUSTGATE_LOG_LEVEL: 'loud', TRUSTGATE_DATA_DIR: '/nonexistent-trustgate' } });
    assert.equal(result.code, EXIT.config, result.stderr);
    assert.equal(result.stdout, '');
    assert.deepEqual(result.stderr.split('\n'), [
      'trustgate: TRUSTGATE_HTTP_PORT="abc" must be a whole number from 0 to 65535',
      'trustgate: TRUSTGATE_LOG_LEVEL="loud" must be one of fatal, error, warn, info, debug, trace, silent',
      '',
    ]);
  });

  test('an unknown command, an unknown option or a missing value: 64 and one line', async () => {
    assertOneLineFailure(await cli(['frobnicate']), EXIT.usage, /unknown command 'frobnicate'/);
    assertOneLineFailure(await cli(['ca', 'list', '--bogus']), EXIT.usage, /unknown option '--bogus'/);
    assertOneLineFailure(await cli(['agent', 'issue', '--name']), EXIT.usage, /option '--name <name>' argument missing/);
    assertOneLineFailure(await cli(['ca', 'list', '--url', 'ftp://x', '--tenant', 'acme']), EXIT.usage, /"ftp:\/\/x" is not an http:\/\/ or https:\/\/ URL/);
  });
});
