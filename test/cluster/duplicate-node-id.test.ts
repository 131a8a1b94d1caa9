import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectAgent, issueAgent, registerVerifiedCa, Resources, waitForAgent } from '../support/broker-helpers.ts';
import { closedWithin } from '../support/broker-refusal-helpers.ts';
import { newTenant } from '../support/api-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { describeNeeding } from '../support/test-services.ts';

// An operator who gives two nodes the same TRUSTGATE_NODE_ID (or lets two share a host name) must
// not silently lose trust enforcement: each node's cluster bus ignores only its own messages, by an
// id unique per process, so a withdrawal through one node still closes sessions on the other.
describeNeeding('postgres', 'redis')('two nodes started with the same TRUSTGATE_NODE_ID', { timeout: 60_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  const resources = new Resources();

  before(async () => {
    cluster = await startCluster({ nodes: [{ name: 'twin' }, { name: 'twin' }], label: 'twins' });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
  });

  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  it('disabling an agent through one node still closes its session on the other', async () => {
    const tenant = newTenant('twin');
    const { ca } = await registerVerifiedCa(node2, tenant);
    const target = resources.client(await connectAgent(node1, await issueAgent(ca, 'p-1'), `${tenant}_p-1`));
    const agent = await waitForAgent(node2, tenant, `${tenant}_p-1`, (a) => a.online === true);
    const closing = closedWithin(target, 3_000, 'the disabled agent on node 1');
    const answer = await node2.api(tenant, `/agents/${agent.id}`, { method: 'PATCH', body: { enabled: false } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const elapsed = await closing.elapsedSince(performance.now());
    assert.ok(elapsed < 1_000, `closed ${elapsed.toFixed(0)} ms after the answer`);
  });
});
