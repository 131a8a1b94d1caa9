import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, endClient, issueAgent, listAgents, registerVerifiedCa, Resources, waitForAgent,
} from '../support/broker-helpers.ts';
import { assertStillConnected } from '../support/broker-refusal-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { describeNeeding } from '../support/test-services.ts';

// The known client-id races of a cluster, with two real `trustgate serve` processes on one
// PostgreSQL database and one Redis: one client id connecting to both nodes within milliseconds
// must leave exactly one session (never none, never two), and the agent's `online` must follow
// the session that survives, also when the node that lost it drains (SIGTERM).

const ROUNDS = 10;
/** How long the losing connection may stay open after both CONNECTs were answered. */
const LOSER_CLOSED_MS = 3_000;

/** Both connections at once; what each attempt became (a client, or refused/closed before its CONNACK). */
const connectBoth = async (connect: (node: ClusterNode, watch: (client: MqttClient) => void) => Promise<MqttClient>, nodes: readonly ClusterNode[], resources: Resources) => {
  const startedAt = performance.now();
  const timeline: string[] = [];
  const watch = (node: ClusterNode) => (client: MqttClient) => {
    const note = (what: string) => () => timeline.push(`${(performance.now() - startedAt).toFixed(0)} ms ${node.name} ${what}`);
    client.on('connect', note('CONNACK'));
    client.on('close', note('closed'));
  };
  const settled = await Promise.allSettled(nodes.map((node) => connect(node, watch(node))));
  return settled.map((result, i) => {
    if (result.status === 'fulfilled') resources.client(result.value);
    return { timeline, node: nodes[i]!, client: result.status === 'fulfilled' ? result.value : undefined, error: result.status === 'rejected' ? String(result.reason) : undefined };
  });
};

/**
 * After both attempts: waits until at most one connection is open (bounded), then proves the one
 * left is alive with a round trip and still the only one. Returns the survivor.
 */
const exactlyOneSurvives = async (attempts: Awaited<ReturnType<typeof connectBoth>>, topic: string, what: string): Promise<{ node: ClusterNode; client: MqttClient }> => {
  const accepted = attempts.filter((attempt) => attempt.client !== undefined) as { node: ClusterNode; client: MqttClient }[];
  const describeAttempts = () => attempts.map((a) => `${a.node.name}: ${a.client ? (a.client.connected ? 'open' : 'closed') : `not accepted (${a.error})`}`).join('; ') + `; timeline: ${attempts[0]!.timeline.join(', ')}`;
  assert.ok(accepted.length > 0, `${what}: neither connection was accepted: ${describeAttempts()}`);
  if (accepted.length === 2) {
    // One of the two must be closed within the bound: whichever closes first is the loser.
    const closings = accepted.map((attempt) => closesWithin(attempt.client, LOSER_CLOSED_MS).then((closed) => (closed ? attempt : undefined)));
    const first = await Promise.race([
      Promise.race(closings.map((closing) => closing.then((loser) => loser ?? new Promise<never>(() => undefined)))),
      Promise.all(closings).then(() => undefined),
    ]);
    assert.ok(first !== undefined, `${what}: both connections were still open ${LOSER_CLOSED_MS} ms after both were accepted: ${describeAttempts()}`);
  }
  const open = accepted.filter((attempt) => attempt.client.connected);
  assert.equal(open.length, 1, `${what}: exactly one connection is open: ${describeAttempts()}`);
  const survivor = open[0]!;
  await assertStillConnected(survivor.client, topic).catch((error: unknown) => assert.fail(`${what}: the survivor on ${survivor.node.name} failed its round trip (${String(error)}): ${describeAttempts()}`));
  // The loser's close and the survivor's takeover are both done by now: the survivor stays.
  assert.equal(accepted.filter((attempt) => attempt.client.connected).length, 1, `${what}: still exactly one connection open: ${describeAttempts()}`);
  return survivor;
};

describeNeeding('postgres', 'redis')('one client id on both nodes within milliseconds', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  const resources = new Resources();

  before(async () => {
    cluster = await startCluster({ nodes: 2, label: 'client-id-races' });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
  });

  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  it(`an agent connecting to both nodes at the same moment (${ROUNDS} rounds) keeps exactly one session, is online, and offline once it leaves`, async (t) => {
    const tenant = newTenant('race');
    const { ca } = await registerVerifiedCa(node1, tenant);
    const certificate = await issueAgent(ca, 'twin');
    const clientId = `${tenant}_twin`;
    const topic = `tc/${tenant}/${clientId}/i/#`;
    const winners: string[] = [];

    for (let round = 1; round <= ROUNDS; round++) {
      const attempts = await connectBoth((node, watch) => connectAgent(node, certificate, clientId, {}, watch), [node1, node2], resources);
      const survivor = await exactlyOneSurvives(attempts, topic, `round ${round}`);
      winners.push(survivor.node.name);

      // Each node's API reads after its own queued records: listing through both writes both
      // nodes' records of this round (the loser's disconnect and the survivor's connect).
      await listAgents(node1, tenant);
      await listAgents(node2, tenant);
      for (const node of [node1, node2]) {
        const agents = (await listAgents(node, tenant)).filter((agent) => agent.clientId === clientId);
        assert.equal(agents.length, 1, `round ${round}: one agent record for the client id (through ${node.name})`);
        assert.equal(agents[0].online, true, `round ${round}: the agent is online through ${node.name}: the lost session did not mark it offline`);
      }

      await endClient(survivor.client);
      await waitForAgent(node1, tenant, clientId, (agent) => agent.online === false, 5_000);
      await waitForAgent(node2, tenant, clientId, (agent) => agent.online === false, 5_000);
    }
    t.diagnostic(`surviving session per round: ${winners.join(', ')}`);
  });

  it(`a tenant application connecting with one client id to both nodes at the same moment (${ROUNDS} rounds) keeps exactly one session`, async (t) => {
    const tenant = newTenant('arace');
    const clientId = `${tenant}_app-twin`;
    const topic = `tc/${tenant}/#`;
    const winners: string[] = [];

    for (let round = 1; round <= ROUNDS; round++) {
      const attempts = await connectBoth((node, watch) => connectApplication(node, tenant, { clientId }, watch), [node1, node2], resources);
      const survivor = await exactlyOneSurvives(attempts, topic, `round ${round}`);
      winners.push(survivor.node.name);
      await endClient(survivor.client);
    }
    t.diagnostic(`surviving session per round: ${winners.join(', ')}`);
  });

  // Last: node 1 does not come back after its drain.
  it('an agent taken over by node 2 stays online while node 1 drains (SIGTERM), and is offline once it leaves', async (t) => {
    const tenant = newTenant('tkdrain');
    const { ca } = await registerVerifiedCa(node1, tenant);
    const certificate = await issueAgent(ca, 'mover');
    const clientId = `${tenant}_mover`;
    const topic = `tc/${tenant}/${clientId}/i/#`;

    const first = resources.client(await connectAgent(node1, certificate, clientId));
    await waitForAgent(node1, tenant, clientId, (agent) => agent.online === true);
    const firstClosed = closesWithin(first, LOSER_CLOSED_MS);
    const second = resources.client(await connectAgent(node2, certificate, clientId));
    assert.equal(await firstClosed, true, 'node 1 closed the taken-over session');
    await assertStillConnected(second, topic);

    const signalledAt = performance.now();
    const exitCode = await node1.server.stop('SIGTERM', { timeoutMs: 10_000 });
    t.diagnostic(`node 1 exited ${exitCode} ${(performance.now() - signalledAt).toFixed(0)} ms after SIGTERM`);
    assert.equal(exitCode, 0, `node 1's exit code after SIGTERM; output:\n${node1.server.output().slice(-2_000)}`);

    // Node 1 has exited, so all it wrote is written; node 2's API reads after its own records.
    await assertStillConnected(second, topic);
    const agents = (await listAgents(node2, tenant)).filter((agent) => agent.clientId === clientId);
    assert.equal(agents.length, 1, 'one agent record for the client id');
    assert.equal(agents[0].online, true, 'the agent is online: node 1\'s drain did not mark the session on node 2 offline');

    await endClient(second);
    await waitForAgent(node2, tenant, clientId, (agent) => agent.online === false, 5_000);
  });
});
