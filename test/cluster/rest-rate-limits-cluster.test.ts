import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { redisAdmin } from '../support/redis-helpers.ts';
import { startCluster, type Cluster } from '../support/start-cluster.ts';
import { createCa } from '../support/test-pki.ts';
import { describeNeeding } from '../support/test-services.ts';

// Issue 16 part 2: "two cluster nodes share one budget". Two real nodes on PostgreSQL and Redis
// with the real default table (TRUSTGATE_RATE_LIMITS=mindconnect: 2 POST /caCertificates per 30 s
// per tenant): two uploads on one node use up the budget on the other too.

describeNeeding('postgres', 'redis')('REST rate limits in a cluster', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ label: 'rate-limits', env: { TRUSTGATE_RATE_LIMITS: 'mindconnect' } });
  });
  after(async () => {
    await cluster?.close();
  });

  it('two uploads on node 1 use up the tenant\'s budget on node 2; another tenant is unaffected; the counters are in Redis under the prefix', async () => {
    const [one, two] = cluster.nodes;
    const tenant = newTenant('rl');
    const upload = async (node: typeof one, forTenant: string) =>
      node!.api(forTenant, '/caCertificates', { body: { name: 'ca', caCertificate: (await createCa()).certificatePem } });
    assert.equal((await upload(one, tenant)).status, 201);
    assert.equal((await upload(one, tenant)).status, 201);
    const third = await upload(two, tenant);
    assert.equal(third.status, 429, JSON.stringify(third.body));
    assert.equal(third.body.errors[0].code, 'rateLimit.exceeded');
    const retryAfter = Number(third.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 30, `Retry-After ${third.headers.get('retry-after')}`);
    assert.match(third.body.errors[0].message, /limit: 2 per 30 s for POST \/caCertificates/);
    // Back on node 1: still refused (one budget, not one per node).
    assert.equal((await upload(one, tenant)).status, 429);
    assert.equal((await upload(two, newTenant('rl'))).status, 201, 'another tenant has its own budget');
    assert.equal((await two!.api(tenant, '/caCertificates')).status, 200, 'GET /caCertificates is not limited by the POST budget');

    const admin = redisAdmin();
    try {
      await admin.connect();
      const keys = await admin.keys(`${cluster.redisPrefix}rateLimit:${tenant}|POST /caCertificates|*`);
      assert.deepEqual(keys.map((key) => key.slice(key.lastIndexOf('|') + 1)).sort(), ['30000', '3600000'], 'one counter per window');
    } finally {
      admin.disconnect();
    }
    assert.ok(two!.server.logLines().some((line: any) => line.msg === 'rate limited' && line.tenant === tenant && line.route === 'POST /caCertificates' && line.limit === '2 per 30 s'));
  });
});
