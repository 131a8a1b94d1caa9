import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, issueAgent, registerVerifiedCa, Resources } from '../support/broker-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { describeNeeding } from '../support/test-services.ts';
import { waitUntil } from '../support/wait-until.ts';
import { startWebhookReceiver, verifyWebhookSignature, type WebhookReceiver } from '../support/webhook-receiver.ts';

// Webhooks in a cluster (decision 0035): both nodes' dispatchers drain one outbox, and each event
// reaches the receiver once; a webhook registered through node 1 hears of an agent on node 2
// (onboarded at once, with its change; connected within the subscription refresh bound).

const SECRET = 'a-secret-of-24-characters';

describeNeeding('postgres', 'redis')('webhooks across a cluster', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  let receiver: WebhookReceiver;
  const resources = new Resources();

  before(async () => {
    receiver = await startWebhookReceiver();
    cluster = await startCluster({
      label: 'webhooks',
      env: { TRUSTGATE_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', TRUSTGATE_WEBHOOK_ALLOW_HTTP: 'true', TRUSTGATE_WEBHOOK_POLL_MS: '20', TRUSTGATE_WEBHOOK_RETRY_BASE_MS: '100', TRUSTGATE_WEBHOOK_REFRESH_MS: '200' },
    });
    node1 = cluster.nodes[0]!;
    node2 = cluster.nodes[1]!;
  });
  after(async () => {
    await resources.closeAll();
    await cluster?.close();
    await receiver?.close();
  });

  it('each event delivered once by one of the nodes; an agent on node 2 reaches a webhook registered on node 1', async () => {
    const tenant = newTenant('whc');
    const created = await node1.api(tenant, '/webhooks', { body: { url: receiver.url(`/${tenant}`), events: ['*'], secret: SECRET } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { ca } = await registerVerifiedCa(node2, tenant);
    await registerVerifiedCa(node1, tenant);
    const clientId = `${tenant}_pump-1`;
    const certificate = await issueAgent(ca, 'pump-1');
    resources.client(await connectAgent(node2, certificate, clientId));
    const ofTenant = () => receiver.requests.filter((request) => request.path === `/${tenant}`);
    await waitUntil(() => ofTenant().filter((request) => request.json?.type === 'caCertificate.verified').length >= 2
      && ofTenant().some((request) => request.json?.type === 'agent.onboarded'), 15_000, 'the verified and onboarded events');
    // A connect before node 2 re-read the subscriptions (every 200 ms here) is not an event for
    // this webhook: the agent reconnects until one is (each time waiting for the event, not a time).
    const connected = () => ofTenant().some((request) => request.json?.type === 'agent.connected');
    for (let round = 0; round < 10 && !connected(); round++) {
      await waitUntil(connected, 1000, 'agent.connected').catch(() => undefined);
      if (!connected()) resources.client(await connectAgent(node2, certificate, clientId));
    }
    assert.ok(connected(), 'agent.connected from node 2');
    // Every page of the deliveries shows them delivered; no event id arrived twice.
    await waitUntil(async () => {
      const answer = await node2.api(tenant, `/webhooks/${created.body.id}/deliveries`);
      return answer.body.deliveries.length >= 4 && answer.body.deliveries.every((delivery: any) => delivery.status === 'delivered');
    }, 10_000, 'the deliveries recorded as delivered');
    const ids = ofTenant().map((request) => request.json.id);
    assert.equal(new Set(ids).size, ids.length, `no event twice: ${ids.join(', ')}`);
    assert.ok(ofTenant().every((request) => verifyWebhookSignature(request.headers['trustgate-signature'] as string, request.body, SECRET)));
  });
});
