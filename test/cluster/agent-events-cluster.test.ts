import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, issueAgent, registerVerifiedCa, Resources } from '../support/broker-helpers.ts';
import { openEventStream, type EventStreamClient, type StreamEvent } from '../support/event-stream-client.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { describeNeeding } from '../support/test-services.ts';

// GET /agents/events in a cluster (issue 17, decision 0027): the console's stream is on node 1,
// the agent connects to node 2 and is managed through node 2's API; node 1's stream tells all of it.

const EVENT_MS = 8_000;

describeNeeding('postgres', 'redis')('agent events across two nodes', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  const resources = new Resources();
  const streams: EventStreamClient[] = [];

  before(async () => {
    cluster = await startCluster({ nodes: 2, label: 'agent-events' });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await resources.closeAll();
    await cluster?.close();
  });

  it('an agent on node 2 goes online, offline, disabled and deleted on node 1\'s stream; another tenant\'s stream on node 1 sees only its own', async () => {
    const tenant = newTenant('evc');
    const other = newTenant('evo');
    const { ca } = await registerVerifiedCa(node2, tenant);
    const { ca: otherCa } = await registerVerifiedCa(node2, other);
    const stream = await openEventStream(`${node1.apiUrl}/agents/events`, await node1.token(tenant, { scopes: ['mcmqtt.read'] }));
    const otherStream = await openEventStream(`${node1.apiUrl}/agents/events`, await node1.token(other));
    streams.push(stream, otherStream);
    assert.equal(stream.status, 200);
    assert.deepEqual((await stream.next((event) => event.event === 'agents', EVENT_MS, 'the first event')).data, []);
    await otherStream.next((event) => event.event === 'agents', EVENT_MS, 'the other tenant\'s first event');

    const clientId = `${tenant}_pump-1`;
    const isAgent = (match: (agent: any) => boolean) => (event: StreamEvent) => event.event === 'agent' && event.data.clientId === clientId && match(event.data);
    const agent = resources.client(await connectAgent(node2, await issueAgent(ca, 'pump-1'), clientId));
    const online = await stream.next(isAgent((data) => data.online === true), EVENT_MS, 'the agent of node 2 online on node 1\'s stream');
    const agentId = online.data.id;

    let from = stream.events.length;
    await agent.endAsync();
    await stream.next(isAgent((data) => data.online === false), EVENT_MS, 'the agent offline', from);

    from = stream.events.length;
    const patched = await cluster.api(node2, tenant, `/agents/${agentId}`, { method: 'PATCH', body: { enabled: false } });
    assert.equal(patched.status, 200);
    const disabled = await stream.next(isAgent((data) => data.enabled === false), EVENT_MS, 'the agent disabled through node 2', from);
    assert.deepEqual(disabled.data, patched.body);

    from = stream.events.length;
    assert.equal((await cluster.api(node2, tenant, `/agents/${agentId}`, { method: 'DELETE' })).status, 204);
    assert.deepEqual((await stream.next((event) => event.event === 'agentDeleted', EVENT_MS, 'the agent deleted through node 2', from)).data, { id: agentId });

    // Positive control for the other tenant: its own agent on node 2 reaches its stream on node 1.
    const otherClientId = `${other}_own`;
    resources.client(await connectAgent(node2, await issueAgent(otherCa, 'own'), otherClientId));
    await otherStream.next((event) => event.event === 'agent' && event.data.clientId === otherClientId, EVENT_MS, 'the other tenant\'s own agent');
    assert.deepEqual(otherStream.events.filter((event) => JSON.stringify(event.data ?? '').includes(tenant)), [], 'nothing of the first tenant');
  });
});
