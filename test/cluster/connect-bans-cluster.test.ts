import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, issueAgent, refusalCodeOf, registerVerifiedCa, Resources } from '../support/broker-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { describeNeeding } from '../support/test-services.ts';
import { waitUntil } from '../support/wait-until.ts';

// Connect bans across a cluster (docs/limits.md): a ban made on one node holds on the other (its
// copy follows Redis), and a ban lifted through the other node's API is lifted on the first.
// The policy file makes each step an event: a bucket of 2 that does not refill within the test,
// 3 refusals ban for 10 minutes.

const SERVER_UNAVAILABLE = 3;
const NOT_AUTHORIZED = 5;

describeNeeding('postgres', 'redis')('connect bans across a cluster', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  let dir: string;
  const resources = new Resources();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-bans-'));
    const policy = join(dir, 'policy.json');
    await writeFile(policy, JSON.stringify({
      rest: null,
      mqtt: { connectPerClientId: { perSecond: 0.001, burst: 2 }, connectPerSourceAddress: { perSecond: 1000, burst: 1000 }, ban: { refusals: 3, windowMs: 60_000, banMs: 600_000 } },
    }));
    cluster = await startCluster({ label: 'bans', env: { TRUSTGATE_RATE_LIMITS: policy }, nodes: [{ name: 'node-1' }, { name: 'node-2' }] });
    node1 = cluster.node('node-1');
    node2 = cluster.node('node-2');
  });
  after(async () => {
    await resources.closeAll();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a revoked agent banned on node 1 is refused by the ban on node 2; lifted through node 2, node 1 lets it in at once', async () => {
    const tenant = newTenant('cban');
    const { ca, id } = await registerVerifiedCa(node1, tenant);
    const agent = await issueAgent(ca, 'pump-1', { serialNumber: '0d0d0d01' });
    const clientId = `${tenant}_pump-1`;
    assert.equal((await node1.api(tenant, `/caCertificates/${id}/revokedCertificates`, { body: { serialNumber: '0d0d0d01', reason: 'certificateHold' } })).status, 201);
    // On node 1: two trust refusals, then over the rate: the third refusal bans.
    assert.equal(await refusalCodeOf(connectAgent(node1, agent, clientId), resources), NOT_AUTHORIZED);
    assert.equal(await refusalCodeOf(connectAgent(node1, agent, clientId), resources), NOT_AUTHORIZED);
    assert.equal(await refusalCodeOf(connectAgent(node1, agent, clientId), resources), SERVER_UNAVAILABLE);
    const [ban] = (await node1.api(tenant, '/bans')).body;
    assert.equal(ban?.clientId, clientId);
    // Node 2 has its copy: its own bucket is full (without the ban it would answer 5).
    await waitUntil(async () => (await node2.api(tenant, '/bans')).body.length === 1, 5_000, 'node 2 to hear of the ban');
    assert.equal(await refusalCodeOf(connectAgent(node2, agent, clientId), resources), SERVER_UNAVAILABLE);
    assert.equal((await node2.api(newTenant('stranger'), `/bans/${ban.id}`, { method: 'DELETE' })).status, 404, 'another tenant cannot lift it');

    // Lifted through node 2; the certificate released from hold too, so the agent is let in.
    assert.equal((await node2.api(tenant, `/caCertificates/${id}/revokedCertificates/0d0d0d01`, { method: 'DELETE' })).status, 204);
    assert.equal((await node2.api(tenant, `/bans/${ban.id}`, { method: 'DELETE' })).status, 204);
    await waitUntil(async () => (await node1.api(tenant, '/bans')).body.length === 0, 5_000, 'node 1 to hear of the lift');
    resources.client(await connectAgent(node1, agent, clientId));
  });
});
