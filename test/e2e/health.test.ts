import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';

// What a load balancer or an orchestrator asks a node (docs/deployment.md): liveness and readiness,
// without a token. The cluster tests cover readiness turning 503 when a dependency goes away.
describe('health and readiness endpoints of a single node', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(() => server.close());

  it('GET /healthz answers 200 while the process runs', async () => {
    const response = await fetch(`${server.url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  it('GET /readyz answers 200 and names each check; no cluster check without Redis', async () => {
    const response = await fetch(`${server.url}/readyz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ready', checks: { node: 'ok', database: 'ok' } });
  });
});
