import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, endClient, MessageLog, Resources, subackCodes } from '../support/broker-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { describeNeeding } from '../support/test-services.ts';
import { waitUntil } from '../support/wait-until.ts';

// Issue 19 part 2: commanding across nodes. The job is created on node 1, the agent lives on node
// 2: the command is routed there, the PUBACK and the agent's updates are recorded by node 2, and
// node 1's API shows the outcome. A job canceled on node 1 while the agent is away is never
// delivered by node 2 from the persistent session's queue: node 2 learns the agent's canceled
// commands before the session resumes (its sweep, which would also learn them, runs every 10 minutes here).

describeNeeding('postgres', 'redis')('commanding in a cluster', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  const resources = new Resources();

  before(async () => {
    cluster = await startCluster({ nodes: 2, label: 'commanding', env: { TRUSTGATE_COMMAND_SWEEP_MS: '600000' } });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
  });
  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  const commanding = async (node: ClusterNode, tenant: string, path: string, init: { method?: string; body?: unknown } = {}) => {
    const response = await fetch(`${node.url}/api/commanding/v3${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${await node.token(tenant)}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    return { status: response.status, body: await response.json() as any };
  };

  it('a job created on node 1 reaches the agent on node 2 and ends EXECUTED; a job canceled on node 1 is never delivered by node 2', async () => {
    const tenant = newTenant('cc');
    const issued = (await node1.api(tenant, '/agentCertificates', { body: { name: 'pump-1' } })).body;
    const credentials = { certificatePem: issued.publicKey as string, privateKeyPem: issued.privateKey as string };
    const clientId = issued.clientId as string;
    const topic = `tc/${tenant}/${clientId}/i/cmd_v3/c`;
    let log!: MessageLog;
    const agent = await connectAgent(node2, credentials, clientId, { clean: false }, (c) => { log = new MessageLog(c); });
    resources.add(() => endClient(agent));
    assert.deepEqual(await subackCodes(agent, { [topic]: { qos: 1 } }), [1]);

    const job = await commanding(node1, tenant, '/deliveryJobs', { body: { name: 'start', clientIds: [clientId], data: { execute_command: 'START' } } });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    const command = JSON.parse((await log.next(topic, 10_000)).payload.toString());
    assert.equal(command.data.jobId, job.body.id);
    // The PUBACK is node 2's to record; node 1's API shows it.
    await waitUntil(async () => (await commanding(node1, tenant, `/deliveryJobs/${job.body.id}/commands`)).body.commands[0].status === 'DELIVERED', 10_000, 'DELIVERED');
    for (const status of ['EXECUTING', 'EXECUTED']) {
      await agent.publishAsync(`tc/${tenant}/${clientId}/o/cmd_v3/u`, JSON.stringify({
        id: randomUUID(), requestId: command.id, data: { timestamp: new Date().toISOString(), jobId: command.data.jobId, status, response: { status } },
      }), { qos: 0 });
    }
    await waitUntil(async () => (await commanding(node1, tenant, `/deliveryJobs/${job.body.id}`)).body.status === 'EXECUTED', 10_000, 'the job is EXECUTED on node 1');
    await endClient(agent);

    // Away (its persistent session queues on the shared store): a job is created and canceled on node 1.
    const canceled = (await commanding(node1, tenant, '/deliveryJobs', { body: { name: 'cancel me', clientIds: [clientId], data: { which: 'canceled' } } })).body;
    await waitUntil(async () => (await commanding(node1, tenant, `/deliveryJobs/${canceled.id}/commands`)).body.commands[0].status === 'PENDING', 5_000, 'stored');
    assert.equal((await commanding(node1, tenant, `/deliveryJobs/${canceled.id}`, { method: 'DELETE' })).body.status, 'CANCELED');
    const control = (await commanding(node1, tenant, '/deliveryJobs', { body: { name: 'control', clientIds: [clientId], data: { which: 'control' } } })).body;
    let again!: MessageLog;
    const back = await connectAgent(node2, credentials, clientId, { clean: false }, (c) => { again = new MessageLog(c); });
    resources.add(() => endClient(back));
    await subackCodes(back, { [topic]: { qos: 1 } });
    await waitUntil(() => again.on(topic).some((m) => JSON.parse(m.payload.toString()).data.jobId === control.id), 10_000, 'the control command arrives on node 2');
    assert.equal(again.on(topic).some((m) => JSON.parse(m.payload.toString()).data.jobId === canceled.id), false, 'the canceled command was delivered');
  });

  it('20 offline agents reconnecting at once, split over both nodes: each gets the job of node 1 exactly once, never the job canceled on node 2', async () => {
    const tenant = newTenant('cs');
    const agents = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const issued = (await node1.api(tenant, '/agentCertificates', { body: { name: `a-${i}` } })).body;
      return { clientId: issued.clientId as string, credentials: { certificatePem: issued.publicKey as string, privateKeyPem: issued.privateKey as string } };
    }));
    const topicOf = (clientId: string) => `tc/${tenant}/${clientId}/i/cmd_v3/c`;
    // Persistent sessions, subscribed, then away: aedes queues for them on the shared store.
    for (const { clientId, credentials } of agents) {
      const client = await connectAgent(node2, credentials, clientId, { clean: false });
      assert.deepEqual(await subackCodes(client, { [topicOf(clientId)]: { qos: 1 } }), [1]);
      await endClient(client);
    }
    const clientIds = agents.map((a) => a.clientId);
    const kept = (await commanding(node1, tenant, '/deliveryJobs', { body: { name: 'kept', clientIds, data: { which: 'kept' } } })).body;
    const canceled = (await commanding(node1, tenant, '/deliveryJobs', { body: { name: 'canceled', clientIds, data: { which: 'canceled' } } })).body;
    // Canceled on node 2 (not the creating node), while node 1's copies sit in the sessions' queues.
    assert.equal((await commanding(node2, tenant, `/deliveryJobs/${canceled.id}`, { method: 'DELETE' })).body.status, 'CANCELED');
    const logs = await Promise.all(agents.map(async ({ clientId, credentials }, i) => {
      let log!: MessageLog;
      const client = await connectAgent(i % 2 === 0 ? node1 : node2, credentials, clientId, { clean: false }, (c) => { log = new MessageLog(c); });
      resources.add(() => endClient(client));
      await subackCodes(client, { [topicOf(clientId)]: { qos: 1 } });
      return { clientId, log };
    }));
    const jobsOf = (entry: (typeof logs)[number]) => entry.log.on(topicOf(entry.clientId)).map((m) => JSON.parse(m.payload.toString()).data.jobId as string);
    await waitUntil(() => logs.every((entry) => jobsOf(entry).includes(kept.id)), 15_000, 'every agent has the kept command');
    await waitUntil(async () => (await commanding(node2, tenant, `/deliveryJobs/${kept.id}/commands`)).body.commands.every((c: any) => c.status === 'DELIVERED'), 15_000, 'all DELIVERED');
    // A positive control after the queues and the re-sends: a job from node 2 reaches them all.
    const control = (await commanding(node2, tenant, '/deliveryJobs', { body: { name: 'control', clientIds, data: { which: 'control' } } })).body;
    await waitUntil(() => logs.every((entry) => jobsOf(entry).includes(control.id)), 15_000, 'every agent has the control command');
    for (const entry of logs) {
      assert.equal(jobsOf(entry).filter((id) => id === kept.id).length, 1, `${entry.clientId} got the kept command more than once`);
      assert.equal(jobsOf(entry).includes(canceled.id), false, `${entry.clientId} got the canceled command`);
    }
  });
});
