import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { spawnServer, type SpawnedServer } from '../../test/support/spawn-server.ts';
import { assertOneLineFailure, cli, cliJson, cliOk } from '../../test/support/run-cli.ts';
import { EXIT } from './cli-error.ts';

// `trustgate console` as a user runs it (bin/trustgate) next to a real server on the same data
// dir: the printed URL signs the browser in (its token is accepted, for the right tenant), and
// `trustgate serve` says where the console is.

const TOKEN_URL = /^(http:\/\/127\.0\.0\.1:\d+\/console\/)#token=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\n$/;

describe('trustgate console', { timeout: 120_000, concurrency: 3 }, () => {
  let server: SpawnedServer;
  let dataDir: string;
  let env: Record<string, string>;

  const apiStatus = async (token: string, path = '/caCertificates', method = 'GET'): Promise<number> =>
    (await fetch(`${server.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${token}` } })).status;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cli-console-'));
    server = await spawnServer({ dataDir });
    env = { TRUSTGATE_DATA_DIR: dataDir, TRUSTGATE_URL: server.url };
  });
  after(async () => {
    await server?.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  });

  test('serve logs the console\'s URL and how to sign in, next to the unchanged "listening" line', () => {
    const messages = server.logLines().map((line) => String(line.msg));
    assert.ok(messages.includes('trustgate HTTP API listening'), messages.join('\n'));
    // With the dev issuer: the one-time sign-in link (decision 0026), never a token.
    const link = messages.find((message) => message.startsWith('console: open '));
    assert.match(link ?? '', new RegExp(`^console: open ${server.url.replaceAll('.', '\\.')}/console/#signin=[A-Za-z0-9_-]{43} to sign in to tenant "default" \\(works once, for an hour, in a browser on this machine; later: npx trustgate console --tenant <tenant>\\)$`), messages.join('\n'));
    assert.doesNotMatch(messages.join('\n'), /eyJ[A-Za-z0-9_-]+\.eyJ/);
  });

  test('--tenant acme prints the console URL with a dev admin token in its fragment, which the server accepts for acme', async () => {
    const result = await cliOk(['console', '--tenant', 'acme'], { env });
    const [, base, token] = TOKEN_URL.exec(result.stdout) ?? [];
    assert.equal(base, `${server.url}/console/`, result.stdout);
    const claims = decodeJwt(token!);
    assert.equal(claims.ten, 'acme');
    assert.equal(claims.scope, 'mcmqtt.admin');
    // Short-lived: the default hour.
    assert.ok(Math.abs(claims.exp! - claims.iat! - 3600) <= 1, `lives ${claims.exp! - claims.iat!} s`);
    assert.equal(await apiStatus(token!), 200);
    // The right tenant: what it creates is acme's, and another tenant does not see it.
    const created = await fetch(`${server.apiUrl}/agentCertificates`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'console-cli' }),
    });
    assert.equal(created.status, 201);
    const other = (await cliOk(['console', '--tenant', 'other'], { env })).stdout;
    const otherToken = TOKEN_URL.exec(other)![2]!;
    assert.deepEqual(await (await fetch(`${server.apiUrl}/agentCertificates`, { headers: { authorization: `Bearer ${otherToken}` } })).json(), []);
    assert.match(result.stderr, /fragment/);
  });

  test('--ttl and --json: the token lives as asked; a longer life than a dev token may have is a usage error', async () => {
    const answer = await cliJson(['console', '--tenant', 'acme', '--ttl', '10m'], { env });
    assert.equal(answer.tenant, 'acme');
    assert.equal(answer.tokenSource, 'devIssuer');
    const token = TOKEN_URL.exec(`${answer.url}\n`)![2]!;
    const claims = decodeJwt(token);
    assert.ok(Math.abs(claims.exp! - claims.iat! - 600) <= 1);
    assert.equal(answer.expiresAt, new Date(claims.exp! * 1000).toISOString());
    assertOneLineFailure(await cli(['console', '--tenant', 'acme', '--ttl', '8d'], { env }), EXIT.usage, /--ttl/);
    assertOneLineFailure(await cli(['console', '--tenant', 'not_a_tenant'], { env }), EXIT.usage);
  });

  test('--token: that token in the fragment; one for another tenant than --tenant is refused', async () => {
    const token = TOKEN_URL.exec((await cliOk(['console', '--tenant', 'given'], { env })).stdout)![2]!;
    const result = await cliOk(['console', '--token', token], { env: { TRUSTGATE_URL: server.url } });
    assert.equal(result.stdout, `${server.url}/console/#token=${token}\n`);
    assertOneLineFailure(await cli(['console', '--token', token, '--tenant', 'acme'], { env }), EXIT.usage, /tenant given/);
  });

  test('without a dev issuer key or a token: the URL alone, and a note to paste a token', async () => {
    const emptyDir = await mkdtemp(join(tmpdir(), 'cli-console-empty-'));
    try {
      for (const args of [['console'], ['console', '--tenant', 'acme']]) {
        const result = await cliOk(args, { env: { TRUSTGATE_DATA_DIR: emptyDir, TRUSTGATE_URL: server.url } });
        assert.equal(result.stdout, `${server.url}/console/\n`, args.join(' '));
        assert.match(result.stderr, /paste/, args.join(' '));
      }
    } finally {
      await rm(emptyDir, { recursive: true, force: true });
    }
  });
});
