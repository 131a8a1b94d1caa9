import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { closesWithin, connectAgent, issueAgent, pingRoundTrip, registerVerifiedCa, Resources } from '../support/broker-helpers.ts';
import { TEST_REDIS_URL } from '../support/redis-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { TcpOutageProxy } from '../support/tcp-proxy.ts';
import { waitUntil } from '../support/wait-until.ts';
import { describeNeeding } from '../support/test-services.ts';

// A network that silently drops the packets between a node and Redis (no reset: the connections
// stay open for both ends) must not leave that node believing it follows the cluster's trust
// changes. Two real nodes; `silent`'s Redis goes through a proxy that blackholes it. Pings go
// round every second here (TRUSTGATE_CLUSTER_PING_MS), so the subscription counts as lost after
// 2 s of silence; the default is 5 s (10 s of silence).

const PING_MS = 1_000;
const SILENCE_LIMIT_MS = 2 * PING_MS;

interface Readiness { readonly status: number; readonly body: any }

const readinessOf = async (node: ClusterNode): Promise<Readiness | undefined> => {
  try {
    const answer = await node.readyz(1_500);
    return { status: answer.status, body: answer.body };
  } catch {
    return undefined;
  }
};

describeNeeding('postgres', 'redis')('a cluster node whose Redis connections go silent', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let stable: ClusterNode;
  let silent: ClusterNode;
  const redisProxy = TcpOutageProxy.forUrl(TEST_REDIS_URL, 6379);
  const resources = new Resources();

  before(async () => {
    await redisProxy.start();
    resources.add(() => redisProxy.close());
    cluster = await startCluster({
      label: 'silence',
      nodes: [
        { name: 'stable' },
        { name: 'silent', env: { TRUSTGATE_REDIS_URL: redisProxy.urlThrough(TEST_REDIS_URL), TRUSTGATE_CLUSTER_PING_MS: String(PING_MS) } },
      ],
    });
    stable = cluster.node('stable');
    silent = cluster.node('silent');
  });

  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  it('/readyz turns 503 naming the cluster within the silence limit, and a CA deleted meanwhile on the other node closes its agent\'s session once the network heals', async (t) => {
    const tenant = newTenant('silence');
    const { ca, id: caId } = await registerVerifiedCa(stable, tenant);
    const agentId = `${tenant}_agent`;
    const agent = resources.client(await connectAgent(silent, await issueAgent(ca, 'agent'), agentId));
    const ready = await readinessOf(silent);
    assert.equal(ready?.status, 200, `ready before the fault: ${JSON.stringify(ready)}`);

    redisProxy.blackhole();
    const blackholedAt = performance.now();
    let last: Readiness | undefined;
    await waitUntil(async () => (last = await readinessOf(silent))?.status === 503, SILENCE_LIMIT_MS + 4_000, '/readyz answering 503')
      .catch(() => assert.fail(`/readyz still ${JSON.stringify(last)} ${(performance.now() - blackholedAt).toFixed(0)} ms after the packets stopped`));
    const noticedAfterMs = performance.now() - blackholedAt;
    t.diagnostic(`/readyz turned 503 ${noticedAfterMs.toFixed(0)} ms after the packets stopped: ${JSON.stringify(last)}`);
    assert.equal(last!.body.checks.cluster, 'Redis subscription silent: trust changes from other nodes may be missed');
    assert.equal(last!.body.checks.database, 'ok');

    // The CA is deleted through the other node: its event cannot reach the silent node.
    const deleted = await stable.api(tenant, `/caCertificates/${caId}`, { method: 'DELETE' });
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    // A precondition, not a product rule: the session must still be there for the resync to close it.
    await pingRoundTrip(agent);
    assert.equal(agent.connected, true, 'the silent node had no way to learn of the deletion yet');
    const stillOut = await readinessOf(silent);
    assert.equal(stillOut?.status, 503, `still not ready while the packets are dropped: ${JSON.stringify(stillOut)}`);

    const agentClosed = closesWithin(agent, 15_000);
    redisProxy.restoreFlow();
    const restoredAt = performance.now();
    assert.equal(await agentClosed, true, 'the session of the deleted CA\'s agent was closed after the resync');
    t.diagnostic(`the agent's session closed ${(performance.now() - restoredAt).toFixed(0)} ms after the network healed`);
    await waitUntil(async () => (last = await readinessOf(silent))?.status === 200, 10_000, '/readyz back to 200')
      .catch(() => assert.fail(`/readyz still ${JSON.stringify(last)} after the network healed`));
    assert.equal(last!.body.checks.cluster, 'ok');
    assert.ok(silent.server.logLines().some((line: any) => line.msg === 'cluster bus subscription restored; resyncing from the store'), 'the node resynced');
  });
});
