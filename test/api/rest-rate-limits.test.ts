import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newTenant } from '../support/api-helpers.ts';
import { spawnServer } from '../support/spawn-server.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';

// TRUSTGATE_RATE_LIMITS as a JSON file (docs/limits.md), through a real start: its limits apply
// to the routes it names and to the others; a file naming a route the API does not have stops
// the start with one line that says which.

describe('REST rate limits from a JSON policy file', () => {
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-rate-file-'));
    const policy = join(dir, 'limits.json');
    await writeFile(policy, JSON.stringify({
      rest: {
        routes: [{ method: 'GET', route: '/agentCertificates', windows: [{ max: 1, windowMs: 60_000 }] }],
        otherRoutes: [{ max: 3, windowMs: 60_000 }],
      },
      mqtt: null,
    }));
    server = await startTestServer({ TRUSTGATE_RATE_LIMITS: policy });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('limits the routes it names and every other route by its otherRoutes windows, each route on its own', async () => {
    const tenant = newTenant('rl');
    assert.equal((await server.api(tenant, '/agentCertificates')).status, 200);
    const refused = await server.api(tenant, '/agentCertificates');
    assert.equal(refused.status, 429);
    assert.match(refused.body.errors[0].message, /limit: 1 per 60 s for GET \/agentCertificates/);
    for (let i = 0; i < 3; i += 1) assert.equal((await server.api(tenant, '/agents')).status, 200, `GET /agents #${i + 1}`);
    const other = await server.api(tenant, '/agents');
    assert.equal(other.status, 429);
    assert.match(other.body.errors[0].message, /limit: 3 per 60 s for GET \/agents/);
    assert.ok(Number(other.headers.get('retry-after')) > 0);
    assert.equal((await server.api(tenant, '/caCertificates')).status, 200, 'another route has its own count');
  });

  it('a file naming a route the API does not have stops `trustgate serve` with a line naming it', async () => {
    const policy = join(dir, 'typo.json');
    await writeFile(policy, JSON.stringify({ rest: { routes: [{ method: 'POST', route: '/caCertificate', windows: [{ max: 1, windowMs: 1000 }] }] } }));
    const dataDir = await mkdtemp(join(tmpdir(), 'trustgate-rate-typo-'));
    try {
      await assert.rejects(spawnServer({ dataDir, env: { TRUSTGATE_RATE_LIMITS: policy }, startTimeoutMs: 30_000 }),
        /TRUSTGATE_RATE_LIMITS names routes the API does not have: POST \/caCertificate\./);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
