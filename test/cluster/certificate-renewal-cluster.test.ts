import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, MessageLog, Resources, subackCodes } from '../support/broker-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { createCsr } from '../support/test-pki.ts';
import { describeNeeding } from '../support/test-services.ts';

// Issue 15 part 4: the hourly renewal limit holds across the nodes of a cluster (one row in the
// shared database decides), and each node answers the requests it receives.

/** Publishes one renewal request and waits (bounded) for the answer with its id. */
const askRenewal = async (agent: MqttClient, tenant: string, clientId: string, request: Record<string, unknown>): Promise<any> => {
  const log = new MessageLog(agent);
  const replyTopic = `tc/${tenant}/${clientId}/i/cert_v1/cert`;
  assert.deepEqual(await subackCodes(agent, { [replyTopic]: { qos: 1 } }), [1]);
  await agent.publishAsync(`tc/${tenant}/${clientId}/o/cert_v1/csr`, JSON.stringify(request), { qos: 1 });
  return JSON.parse((await log.next(replyTopic, 10_000)).payload.toString());
};

describeNeeding('postgres', 'redis')('certificate renewal in a cluster', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  const resources = new Resources();

  before(async () => {
    cluster = await startCluster({ nodes: 2, label: 'renewal' });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
  });
  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  it('renewed on node 1, the same agent asking node 2 within the hour gets renewal.tooSoon; the new certificate connects to node 2', async () => {
    const tenant = newTenant('rc');
    const issued = (await node1.api(tenant, '/agentCertificates', { body: { name: 'pump-1' } })).body;
    const credentials = { certificatePem: issued.publicKey as string, privateKeyPem: issued.privateKey as string };
    const onNode1 = resources.client(await connectAgent(node1, credentials, issued.clientId));
    const csr = await createCsr({ subject: 'CN=pump-1' });
    const renewed = await askRenewal(onNode1, tenant, issued.clientId, { id: 'n1', csr: csr.csrPem });
    assert.equal(renewed.error, undefined, JSON.stringify(renewed));
    await onNode1.endAsync();

    const onNode2 = resources.client(await connectAgent(node2, credentials, issued.clientId));
    const refused = await askRenewal(onNode2, tenant, issued.clientId, { id: 'n2', csr: (await createCsr({ subject: 'CN=pump-1' })).csrPem });
    assert.deepEqual([refused.id, refused.error?.code], ['n2', 'renewal.tooSoon']);
    assert.ok(Date.parse(refused.error.retryAt) > Date.now() + 3_500_000);
    await onNode2.endAsync();
    resources.client(await connectAgent(node2, { certificatePem: renewed.certificate, privateKeyPem: csr.privateKeyPem }, issued.clientId));
    assert.equal(((await node2.api(tenant, '/agentCertificates')).body as any[]).length, 2);
  });
});
