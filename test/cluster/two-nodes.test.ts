import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, newTenant, proofFor, registrationCodeOf, uploadCa, uploadCaOk, verify } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, controlArrives, isControl, issueAgent, listAgents, MessageLog, refusalCodeOf, registerVerifiedCa, Resources,
  subackCodes, waitForAgent, withTimeout,
} from '../support/broker-helpers.ts';
import { assertStillConnected, closedWithin } from '../support/broker-refusal-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { createCa } from '../support/test-pki.ts';
import { describeNeeding } from '../support/test-services.ts';

// Two real `trustgate serve` processes on one PostgreSQL database and one Redis (docs/deployment.md),
// driven only from outside: the REST API of either node and MQTT.js clients over mutual TLS. What
// one node is told (a message, a verified CA, a withdrawn trust, a client id) the other acts on.
// Once verified, the CA is trusted by the broker at once, with no restart, on every node; live
// enforcement closes the affected sessions within one second, on every node; one session per client
// id; at most maxCaCertificatesPerTenant CAs, also under concurrent requests.

const ONE_SECOND_MS = 1_000;
const NOT_AUTHORIZED = 5;

describeNeeding('postgres', 'redis')('two trustgate nodes sharing PostgreSQL and Redis', { timeout: 60_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  const resources = new Resources();

  before(async () => {
    cluster = await startCluster({ nodes: 2, label: 'two-nodes' });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
  });

  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  it('an agent on node 1 publishes and a tenant application on node 2 receives it, at QoS 0 and QoS 1 (and commands flow back)', async () => {
    const tenant = newTenant('msg');
    const { ca } = await registerVerifiedCa(node1, tenant);
    const clientId = `${tenant}_sensor-1`;
    const agent = resources.client(await connectAgent(node1, await issueAgent(ca, 'sensor-1'), clientId));
    const application = resources.client(await connectApplication(node2, tenant));
    const applicationLog = new MessageLog(application);
    const agentLog = new MessageLog(agent);
    assert.deepEqual(await subackCodes(application, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    assert.deepEqual(await subackCodes(agent, { [`tc/${tenant}/${clientId}/i/#`]: { qos: 1 } }), [1]);

    const topic0 = `tc/${tenant}/${clientId}/o/temperature`;
    const topic1 = `tc/${tenant}/${clientId}/o/alarm`;
    await agent.publishAsync(topic0, 'qos0 21.5', { qos: 0 });
    await withTimeout(agent.publishAsync(topic1, 'qos1 overheat', { qos: 1 }), 5_000, 'PUBACK from node 1');
    assert.equal((await applicationLog.next(topic0, 5_000, 'qos0 21.5')).qos, 0, 'the QoS 0 message crossed to node 2 at QoS 0');
    assert.equal((await applicationLog.next(topic1, 5_000, 'qos1 overheat')).qos, 1, 'the QoS 1 message crossed to node 2 at QoS 1');

    // And the other way: the application on node 2 commands the agent on node 1.
    const command = `tc/${tenant}/${clientId}/i/setpoint`;
    await withTimeout(application.publishAsync(command, '19', { qos: 1 }), 5_000, 'PUBACK from node 2');
    assert.equal((await agentLog.next(command, 5_000, '19')).qos, 1);

    // Control: a later message of the agent crosses behind any duplicate.
    await controlArrives(agent, topic1, [applicationLog]);
    assert.deepEqual(applicationLog.under(`tc/${tenant}/${clientId}/o/`).filter((m) => !isControl(m)).map((m) => m.payload.toString()), ['qos0 21.5', 'qos1 overheat'],
      'each message arrived exactly once');
  });

  it('a CA verified through node 1 lets its agents into node 2 at once', async () => {
    const tenant = newTenant('ver');
    const ca = await createCa({ subject: `CN=${tenant}-ca` });
    const certificate = await issueAgent(ca, 'early-1');
    const clientId = `${tenant}_early-1`;
    const resource = await uploadCaOk(node1, tenant, ca);
    const proof = await proofFor(ca, await registrationCodeOf(node1, tenant, resource.id), { version: 1 });
    assert.equal(await refusalCodeOf(connectAgent(node2, certificate, clientId), resources), NOT_AUTHORIZED,
      'node 2 refuses the agent while its CA is unverified');

    const verified = await verify(node1, tenant, resource.id, proof.certificatePem);
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    // No sleep, no poll: the very next thing is the connection to the other node.
    const agent = resources.client(await connectAgent(node2, certificate, clientId));
    assert.equal(agent.connected, true);
    const listed = await waitForAgent(node1, tenant, clientId, (a) => a.online === true);
    assert.equal(listed.caCertificateId, resource.id, 'node 1 lists the agent node 2 onboarded');
  });

  describe('trust withdrawn through node 2 closes live sessions on node 1 within one second', () => {
    it('deleting the CA through node 2 closes its agent\'s session on node 1 and keeps the other CA\'s agent', async (t) => {
      const tenant = newTenant('del');
      const doomed = await registerVerifiedCa(node2, tenant, { subject: `CN=${tenant}-doomed` });
      const kept = await registerVerifiedCa(node2, tenant, { subject: `CN=${tenant}-kept` });
      const doomedCertificate = await issueAgent(doomed.ca, 'd-1');
      const doomedAgent = resources.client(await connectAgent(node1, doomedCertificate, `${tenant}_d-1`));
      const keptAgent = resources.client(await connectAgent(node1, await issueAgent(kept.ca, 'k-1'), `${tenant}_k-1`));

      const closing = closedWithin(doomedAgent, 3_000, 'the doomed agent on node 1');
      const sentAt = performance.now();
      const answer = await node2.api(tenant, `/caCertificates/${doomed.id}`, { method: 'DELETE' });
      const respondedAt = performance.now();
      assert.equal(answer.status, 204, JSON.stringify(answer.body));
      const elapsed = await closing.elapsedSince(respondedAt);
      t.diagnostic(`node 1 closed the session ${elapsed.toFixed(1)} ms after node 2's DELETE answer (request took ${(respondedAt - sentAt).toFixed(1)} ms)`);
      assert.ok(elapsed < ONE_SECOND_MS, `closed ${elapsed.toFixed(0)} ms after the DELETE answer (limit ${ONE_SECOND_MS} ms)`);

      await assertStillConnected(keptAgent, `tc/${tenant}/${tenant}_k-1/i/#`);
      assert.equal(await refusalCodeOf(connectAgent(node1, doomedCertificate, `${tenant}_d-1`), resources), NOT_AUTHORIZED,
        'node 1 no longer trusts the deleted CA');
    });

    it('disabling an agent through node 2 (PATCH /agents/{id}) closes its session on node 1 and keeps its neighbour', async (t) => {
      const tenant = newTenant('dis');
      const { ca } = await registerVerifiedCa(node2, tenant);
      const certificate = await issueAgent(ca, 'p-1');
      const target = resources.client(await connectAgent(node1, certificate, `${tenant}_p-1`));
      const neighbour = resources.client(await connectAgent(node1, await issueAgent(ca, 'p-2'), `${tenant}_p-2`));
      const agent = await waitForAgent(node2, tenant, `${tenant}_p-1`, (a) => a.online === true);

      const closing = closedWithin(target, 3_000, 'the disabled agent on node 1');
      const sentAt = performance.now();
      const answer = await node2.api(tenant, `/agents/${agent.id}`, { method: 'PATCH', body: { enabled: false } });
      const respondedAt = performance.now();
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.enabled, false);
      const elapsed = await closing.elapsedSince(respondedAt);
      t.diagnostic(`node 1 closed the session ${elapsed.toFixed(1)} ms after node 2's PATCH answer (request took ${(respondedAt - sentAt).toFixed(1)} ms)`);
      assert.ok(elapsed < ONE_SECOND_MS, `closed ${elapsed.toFixed(0)} ms after the PATCH answer (limit ${ONE_SECOND_MS} ms)`);

      await assertStillConnected(neighbour, `tc/${tenant}/${tenant}_p-2/i/#`);
      assert.equal(await refusalCodeOf(connectAgent(node1, certificate, `${tenant}_p-1`), resources), NOT_AUTHORIZED,
        'a disabled agent cannot reconnect to node 1');
    });
  });

  it('a second connection with the same client id on the other node takes over the first', async (t) => {
    const tenant = newTenant('tko');
    const { ca } = await registerVerifiedCa(node1, tenant);
    const certificate = await issueAgent(ca, 't-1');
    const clientId = `${tenant}_t-1`;
    const first = resources.client(await connectAgent(node1, certificate, clientId));
    const before = await waitForAgent(node1, tenant, clientId, (a) => a.online === true);

    const firstClosed = closedWithin(first, 3_000, 'the first session on node 1');
    const second = resources.client(await connectAgent(node2, certificate, clientId));
    const acceptedAt = performance.now();
    const elapsed = await firstClosed.elapsedSince(acceptedAt);
    t.diagnostic(`node 1 closed the first session ${elapsed.toFixed(1)} ms after node 2 accepted the second`);
    assert.ok(elapsed < ONE_SECOND_MS, `the first session closed ${elapsed.toFixed(0)} ms after the second was accepted`);

    // The closed session's disconnect is recorded by node 1 (queued as node 1 saw it close, before
    // the client did): it must not mark the agent offline, since its session now lives on node 2.
    // Each node's API reads after that node's queued records: listing through node 2 writes its
    // record of the second session, listing through node 1 the disconnect, in whichever order.
    await assertStillConnected(second, `tc/${tenant}/${clientId}/i/#`);
    await listAgents(node2, tenant);
    const agents = (await listAgents(node1, tenant)).filter((a) => a.clientId === clientId);
    assert.equal(agents.length, 1, 'one agent record for the client id');
    assert.equal(agents[0].id, before.id, 'the same agent');
    assert.equal(agents[0].online, true, 'the agent is online: the taken-over session did not mark it offline');

    // And back to node 1.
    const secondClosed = closesWithin(second, 3_000);
    const third = resources.client(await connectAgent(node1, certificate, clientId));
    assert.equal(await secondClosed, true, 'node 2 closed the second session when node 1 accepted a third');
    await assertStillConnected(third, `tc/${tenant}/${clientId}/i/#`);
  });

  it('20 parallel CA uploads for one tenant split across both nodes create exactly 2', async () => {
    const tenant = newTenant('lim');
    const cas = await Promise.all(Array.from({ length: 20 }, (_, i) => createCa({ subject: `CN=${tenant}-ca-${i}` })));
    // Warm both nodes' database pools first: uploads that each wait for a new connection are
    // spread out in time and would rarely race.
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? node1 : node2).api(tenant, '/caCertificates')));
    const answers = await Promise.all(cas.map((ca, i) => uploadCa(i % 2 === 0 ? node1 : node2, tenant, ca, `parallel ${i}`)));
    const statuses = answers.map((answer) => answer.status);
    const created = answers.filter((answer) => answer.status === 201);
    assert.equal(created.length, 2, `exactly two uploads succeed; statuses: ${statuses.join(' ')}`);
    for (const answer of answers.filter((a) => a.status !== 201)) assertError(answer, 409, 'caCertificate.limitReached');

    const createdIds = created.map((answer) => answer.body.id).sort();
    for (const node of [node1, node2]) {
      const list = await node.api(tenant, '/caCertificates');
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.deepEqual(list.body.map((ca: { id: string }) => ca.id).sort(), createdIds, `${node.name} lists exactly the two created`);
    }
  });
});
