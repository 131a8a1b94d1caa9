import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type { MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, connectApplication, MessageLog, Resources, subackCodes } from '../support/broker-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { describeNeeding } from '../support/test-services.ts';

// Issue 19 part 1: in a cluster both nodes sign with and publish the same agent token keys (they
// are in the database), and the one-request-per-agent-per-minute limit holds across nodes (Redis).

const askToken = async (agent: MqttClient, tenant: string, clientId: string, id: string): Promise<any> => {
  const log = new MessageLog(agent);
  const replyTopic = `tc/${tenant}/${clientId}/i/agm_v3/tr`;
  assert.deepEqual(await subackCodes(agent, { [replyTopic]: { qos: 1 } }), [1]);
  await agent.publishAsync(`tc/${tenant}/${clientId}/o/agm_v3/t`, JSON.stringify({ id }), { qos: 0 });
  return JSON.parse((await log.next(replyTopic, 10_000)).payload.toString());
};

describeNeeding('postgres', 'redis')('agent access tokens in a cluster', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  const resources = new Resources();

  before(async () => {
    cluster = await startCluster({ nodes: 2, label: 'agent-tokens' });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
  });
  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  it('a token from node 1 verifies with node 2\'s JWKS (the same keys); the same agent asking node 2 within the minute gets agentToken.rateLimited', async () => {
    const tenant = newTenant('tc');
    const issued = (await node1.api(tenant, '/agentCertificates', { body: { name: 'pump-1' } })).body;
    const credentials = { certificatePem: issued.publicKey as string, privateKeyPem: issued.privateKey as string };
    // A tenant application on the other node, subscribed to everything of the tenant (security
    // review of decision 0033): the answer crosses the cluster, but only the agent receives it.
    const app = resources.client(await connectApplication(node2, tenant, { scopes: ['mcmqtt.read'] }));
    const appLog = new MessageLog(app);
    assert.deepEqual(await subackCodes(app, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    const onNode1 = resources.client(await connectAgent(node1, credentials, issued.clientId));
    const granted = await askToken(onNode1, tenant, issued.clientId, 'n1');
    assert.equal(granted.error, undefined, JSON.stringify(granted));
    await onNode1.publishAsync(`tc/${tenant}/${issued.clientId}/o/data`, 'after the token', { qos: 1 });
    await appLog.next(`tc/${tenant}/${issued.clientId}/o/data`, 10_000, 'after the token');
    assert.deepEqual(appLog.under(`tc/${tenant}/${issued.clientId}/i/`), [], 'no token answer reaches the application on node 2');
    await onNode1.endAsync();

    const jwks1 = await (await fetch(`${node1.url}/.well-known/jwks.json`)).json() as JSONWebKeySet;
    const jwks2 = await (await fetch(`${node2.url}/.well-known/jwks.json`)).json() as JSONWebKeySet;
    assert.deepEqual(jwks2, jwks1);
    await jwtVerify(granted.data.access_token, createLocalJWKSet(jwks2), { issuer: 'urn:trustgate:agent-token-issuer', algorithms: ['ES256'] });

    const onNode2 = resources.client(await connectAgent(node2, credentials, issued.clientId));
    const refused = await askToken(onNode2, tenant, issued.clientId, 'n2');
    assert.deepEqual([refused.id, refused.error?.code], ['n2', 'agentToken.rateLimited']);
    const retryAt = Date.parse(refused.error.retryAt);
    assert.ok(retryAt > Date.now() + 30_000 && retryAt <= Date.now() + 60_000, refused.error.retryAt);
  });
});
