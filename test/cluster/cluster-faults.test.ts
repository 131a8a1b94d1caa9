import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { assertError, newTenant } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, controlArrives, delay, isControl, issueAgent, listAgents, MessageLog, pingRoundTrip,
  refusalCodeOf, registerVerifiedCa, Resources, subackCodes, waitForAgent, withTimeout,
} from '../support/broker-helpers.ts';
import { assertStillConnected } from '../support/broker-refusal-helpers.ts';
import { TEST_REDIS_URL } from '../support/redis-helpers.ts';
import { startCluster, type ApiAnswer, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { TcpOutageProxy } from '../support/tcp-proxy.ts';
import { waitUntil } from '../support/wait-until.ts';
import { describeNeeding } from '../support/test-services.ts';

// A cluster of real `trustgate serve` processes meeting the faults docs/deployment.md promises to
// survive ("What happens when"): Redis and PostgreSQL briefly unreachable for one node (a TCP
// proxy in front of each, cut and restored), a graceful SIGTERM and a SIGKILL. One node, `stable`,
// stays healthy throughout. Starting a node costs seconds of CPU, so the two nodes behind proxies
// also meet the signals once their outage scenario has shown them recovered: `redis-cut` is then
// drained (SIGTERM), `postgres-cut` killed. Every scenario has its own tenant.

const SERVER_UNAVAILABLE = 3;
const NOT_AUTHORIZED = 5;
const DRAIN_MS = 1_500;

/** Everything a node's /readyz said, or that it did not answer (port closed, no answer in time). */
type Readiness = { readonly answered: true; readonly status: number; readonly body: any } | { readonly answered: false; readonly error: string };

const readinessOf = async (node: ClusterNode, timeoutMs = 1_500): Promise<Readiness> => {
  try {
    const answer: ApiAnswer = await node.readyz(timeoutMs);
    return { answered: true, status: answer.status, body: answer.body };
  } catch (error) {
    return { answered: false, error: (error as Error).message };
  }
};

/** Polls /readyz until `isWanted` holds (bounded); returns that answer and when it came. */
const waitForReadiness = async (node: ClusterNode, isWanted: (readiness: Readiness) => boolean, ms: number, what: string) => {
  const startedAt = performance.now();
  let last: Readiness | undefined;
  await waitUntil(async () => isWanted(last = await readinessOf(node)), ms, what)
    .catch(() => assert.fail(`${node.name}: ${what} within ${ms} ms; last /readyz: ${JSON.stringify(last)}`));
  return { readiness: last!, afterMs: performance.now() - startedAt };
};

const isReady = (readiness: Readiness): boolean => readiness.answered && readiness.status === 200;

/** Records whether (and when) a client's connection closed. */
const watchClose = (client: MqttClient): { readonly closedAt: () => number | undefined } => {
  let closedAt: number | undefined;
  client.once('close', () => { closedAt ??= performance.now(); });
  return { closedAt: () => closedAt };
};

describeNeeding('postgres', 'redis')('a trustgate cluster meeting faults', { timeout: 150_000 }, () => {
  let cluster: Cluster;
  let stable: ClusterNode;
  const redisProxy = TcpOutageProxy.forUrl(TEST_REDIS_URL, 6379);
  let postgresProxy: TcpOutageProxy;
  const resources = new Resources();

  before(async () => {
    await redisProxy.start();
    resources.add(() => redisProxy.close());
    // The proxy needs the database's address, known once the cluster made it: the node behind it
    // starts after the others.
    cluster = await startCluster({
      label: 'faults',
      nodes: [
        { name: 'stable' },
        { name: 'redis-cut', env: { TRUSTGATE_REDIS_URL: redisProxy.urlThrough(TEST_REDIS_URL), TRUSTGATE_DRAIN_MS: String(DRAIN_MS) } },
      ],
    });
    postgresProxy = TcpOutageProxy.forUrl(cluster.databaseUrl, 5432);
    await postgresProxy.start();
    resources.add(() => postgresProxy.close());
    await cluster.startNode({ name: 'postgres-cut', env: { TRUSTGATE_DATABASE_URL: postgresProxy.urlThrough(cluster.databaseUrl) } });
    stable = cluster.node('stable');
  });

  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  it('Redis restarting: sessions on the cut-off node stay, /readyz says cluster not ok and recovers by itself, and a trust change made meanwhile on the other node closes its session after the resync', async (t) => {
    const node = cluster.node('redis-cut');
    const tenant = newTenant('redis');
    const { ca } = await registerVerifiedCa(stable, tenant);
    const keeperId = `${tenant}_keeper`;
    const disabledId = `${tenant}_disabled`;
    const [keeperCertificate, disabledCertificate] = await Promise.all([issueAgent(ca, 'keeper'), issueAgent(ca, 'disabled')]);
    const keeper = resources.client(await connectAgent(node, keeperCertificate, keeperId));
    const disabled = resources.client(await connectAgent(node, disabledCertificate, disabledId));
    const application = resources.client(await connectApplication(stable, tenant));
    const applicationLog = new MessageLog(application);
    assert.deepEqual(await subackCodes(application, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    const disabledAgent = await waitForAgent(stable, tenant, disabledId, (a) => a.online === true);
    assert.ok(isReady(await readinessOf(node)), 'ready before the outage');
    const keeperWatch = watchClose(keeper);
    const disabledWatch = watchClose(disabled);

    await redisProxy.cut();
    const outage = await waitForReadiness(node, (r) => r.answered && r.status === 503, 3_000, '/readyz answering 503 with Redis gone');
    t.diagnostic(`/readyz turned 503 ${outage.afterMs.toFixed(0)} ms after the cut: ${JSON.stringify(outage.readiness)}`);
    assert.ok(outage.readiness.answered);
    assert.notEqual(outage.readiness.body.checks.cluster, 'ok', 'the cluster check names the problem');
    assert.equal(outage.readiness.body.checks.database, 'ok');
    assert.equal(outage.readiness.body.status, 'not ready');

    // During the outage, the agent is disabled through the other node: its event cannot reach
    // the cut-off node.
    const patched = await stable.api(tenant, `/agents/${disabledAgent.id}`, { method: 'PATCH', body: { enabled: false } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    // The cut-off node still serves both sessions after the PATCH (a PINGREQ needs no Redis); the
    // keeper is checked again once the outage is over.
    await pingRoundTrip(keeper);
    await pingRoundTrip(disabled);
    assert.equal(keeperWatch.closedAt(), undefined, 'the keeper kept its session while Redis was away');
    assert.equal(keeper.connected, true);
    // A precondition, not a product rule: if the cut-off node had closed the session already,
    // this test could not tell whether the resync does it.
    assert.equal(disabledWatch.closedAt(), undefined, 'the cut-off node had no way to learn of the PATCH yet');
    const stillOut = await readinessOf(node);
    assert.ok(stillOut.answered && stillOut.status === 503, `still not ready while Redis is away: ${JSON.stringify(stillOut)}`);

    const disabledClosed = closesWithin(disabled, 10_000);
    await redisProxy.restore();
    const restoredAt = performance.now();
    const recovery = await waitForReadiness(node, isReady, 10_000, '/readyz back to 200 after Redis returned');
    t.diagnostic(`/readyz back to 200 ${recovery.afterMs.toFixed(0)} ms after the restore: ${JSON.stringify(recovery.readiness)}`);
    assert.equal(await disabledClosed, true, 'the session of the agent disabled during the outage was closed after the resync');
    t.diagnostic(`the disabled agent's session closed ${(disabledWatch.closedAt()! - restoredAt).toFixed(0)} ms after the restore`);

    assert.equal(keeperWatch.closedAt(), undefined, 'the keeper was never disconnected');
    await assertStillConnected(keeper, `tc/${tenant}/${keeperId}/i/#`);
    // Messages cross nodes again.
    await withTimeout(keeper.publishAsync(`tc/${tenant}/${keeperId}/o/status`, 'after the outage', { qos: 1 }), 5_000, 'PUBACK after the outage');
    await applicationLog.next(`tc/${tenant}/${keeperId}/o/status`, 5_000, 'after the outage');
    assert.equal(await refusalCodeOf(connectAgent(node, disabledCertificate, disabledId), resources), NOT_AUTHORIZED,
      'the disabled agent cannot reconnect to the recovered node');
  });

  it('PostgreSQL briefly unreachable for a node: its agents keep publishing, a new agent gets CONNACK 3, the API answers 503 storage.unavailable, and it serves again by itself', async (t) => {
    const node = cluster.node('postgres-cut');
    const tenant = newTenant('pg');
    const { ca } = await registerVerifiedCa(stable, tenant);
    const connectedId = `${tenant}_connected`;
    const newcomerId = `${tenant}_newcomer`;
    const [connectedCertificate, newcomerCertificate] = await Promise.all([issueAgent(ca, 'connected'), issueAgent(ca, 'newcomer')]);
    const connected = resources.client(await connectAgent(node, connectedCertificate, connectedId));
    const connectedWatch = watchClose(connected);
    const application = resources.client(await connectApplication(stable, tenant));
    const applicationLog = new MessageLog(application);
    assert.deepEqual(await subackCodes(application, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    assert.ok(isReady(await readinessOf(node)), 'ready before the outage');

    await postgresProxy.cut();
    const cutAt = performance.now();
    try {
      // The connected agent keeps publishing, and its messages cross the cluster.
      for (const payload of ['during-1', 'during-2']) {
        await withTimeout(connected.publishAsync(`tc/${tenant}/${connectedId}/o/data`, payload, { qos: 1 }), 5_000, `PUBACK for ${payload}`);
        await applicationLog.next(`tc/${tenant}/${connectedId}/o/data`, 5_000, payload);
      }
      // Whether a new agent is disabled cannot be checked: "server unavailable", not "not authorized".
      assert.equal(await refusalCodeOf(connectAgent(node, newcomerCertificate, newcomerId), resources), SERVER_UNAVAILABLE,
        'a new agent\'s first connect is refused with CONNACK 3 (server unavailable)');
      assertError(await node.api(tenant, '/agents'), 503, 'storage.unavailable');
      const readiness = await readinessOf(node, 5_000);
      assert.ok(readiness.answered && readiness.status === 503, `/readyz during the outage: ${JSON.stringify(readiness)}`);
      // ... without the driver's text (/readyz is public; what failed goes to the log).
      assert.equal(readiness.body.checks.database, 'unreachable (details in the log)');
      assert.equal(readiness.body.checks.cluster, 'ok');
      t.diagnostic(`during the outage (${(performance.now() - cutAt).toFixed(0)} ms): /readyz ${JSON.stringify(readiness.body)}`);
      assert.equal(connectedWatch.closedAt(), undefined, 'the connected agent kept its session');
    } finally {
      await postgresProxy.restore();
    }

    const recovery = await waitForReadiness(node, isReady, 10_000, '/readyz back to 200 after PostgreSQL returned');
    t.diagnostic(`/readyz back to 200 ${recovery.afterMs.toFixed(0)} ms after the restore`);
    const agents = await node.api(tenant, '/agents');
    assert.equal(agents.status, 200, JSON.stringify(agents.body));
    const newcomer = resources.client(await connectAgent(node, newcomerCertificate, newcomerId));
    await assertStillConnected(newcomer, `tc/${tenant}/${newcomerId}/i/#`);
    await waitForAgent(stable, tenant, newcomerId, (a) => a.online === true, 3_000);
    assert.equal(connectedWatch.closedAt(), undefined, 'the connected agent never lost its session');
    await withTimeout(connected.publishAsync(`tc/${tenant}/${connectedId}/o/data`, 'after', { qos: 1 }), 5_000, 'PUBACK after the outage');
    await applicationLog.next(`tc/${tenant}/${connectedId}/o/data`, 5_000, 'after');
  });

  it('SIGTERM: /readyz turns 503 at once, the agents are disconnected within the drain time, reconnect to the other node, and the process exits 0', async (t) => {
    const node = cluster.node('redis-cut');
    const tenant = newTenant('drain');
    const { ca } = await registerVerifiedCa(stable, tenant);
    // Enough agents that draining them in batches takes a while (one per 100 ms step here): a
    // node that stayed "ready" while draining would be seen answering 200.
    const names = Array.from({ length: 8 }, (_, i) => `d-${i + 1}`);
    const certificates = await Promise.all(names.map((name) => issueAgent(ca, name)));
    const clients = await Promise.all(certificates.map(async (certificate, i) =>
      resources.client(await connectAgent(node, certificate, `${tenant}_${names[i]}`))));
    const watches = clients.map(watchClose);
    assert.ok(isReady(await readinessOf(node)), `ready before SIGTERM: ${JSON.stringify(await readinessOf(node))}`);

    const signalledAt = performance.now();
    const exited = node.server.stop('SIGTERM', { timeoutMs: 10_000 });
    // /readyz from the signal until the port closes (or the agents are all gone).
    const seen: { readonly afterMs: number; readonly readiness: Readiness }[] = [];
    const allClosed = Promise.all(clients.map((client) => closesWithin(client, DRAIN_MS + 2_000)));
    let isWatching = true;
    void allClosed.finally(() => { isWatching = false; });
    while (isWatching) {
      const readiness = await readinessOf(node, 1_000);
      seen.push({ afterMs: performance.now() - signalledAt, readiness });
      if (!readiness.answered) break;
      await delay(25); // the sampling rate of what /readyz says while the node drains, not a wait for it
    }
    const firstNotReady = seen.findIndex(({ readiness }) => !isReady(readiness));
    t.diagnostic(`/readyz after SIGTERM: ${seen.map(({ afterMs, readiness }) => `${afterMs.toFixed(0)} ms ${readiness.answered ? readiness.status : 'no answer'}`).join(', ')}`);
    assert.ok(firstNotReady >= 0, 'the node never stopped answering ready while it drained');
    // A request already on its way may be answered before the signal is handled: a short grace.
    assert.ok(seen[firstNotReady]!.afterMs < 250, `/readyz still answered 200 ${seen[firstNotReady]!.afterMs.toFixed(0)} ms after SIGTERM`);
    assert.ok(seen.slice(firstNotReady).every(({ readiness }) => !isReady(readiness)), 'once not ready, never ready again');
    const firstAnswer = seen[firstNotReady]!.readiness;
    if (firstAnswer.answered) {
      assert.equal(firstAnswer.status, 503);
      assert.notEqual(firstAnswer.body.checks.node, 'ok', 'the node check says it is draining');
    }

    // Like real agents, each reconnects (through the balancer, here: to the other node) as soon as it is dropped.
    const moved = clients.map((client, i) => closesWithin(client, DRAIN_MS + 2_000).then(async (isClosed) => {
      assert.ok(isClosed, `${names[i]} was not disconnected`);
      return resources.client(await connectAgent(stable, certificates[i]!, `${tenant}_${names[i]}`));
    }));
    assert.deepEqual(await allClosed, clients.map(() => true), 'every agent was disconnected');
    const closedAfter = watches.map((watch) => (watch.closedAt() ?? Number.POSITIVE_INFINITY) - signalledAt);
    t.diagnostic(`agents disconnected ${closedAfter.map((ms) => ms.toFixed(0)).join(', ')} ms after SIGTERM (drain ${DRAIN_MS} ms)`);
    for (const [i, ms] of closedAfter.entries()) {
      assert.ok(ms < DRAIN_MS + 1_000, `${names[i]} disconnected ${ms.toFixed(0)} ms after SIGTERM (limit ${DRAIN_MS} + 1000 ms)`);
    }

    assert.ok((await Promise.all(moved)).every((client) => client.connected), 'every agent reconnected to the other node');
    const exitCode = await exited;
    t.diagnostic(`exit ${exitCode} ${(performance.now() - signalledAt).toFixed(0)} ms after SIGTERM`);
    assert.equal(exitCode, 0, `exit code after SIGTERM; output:\n${node.server.output().slice(-2_000)}`);
    assert.match(node.server.output(), /"msg":"shutdown complete"/, 'the last thing the node logs is that its shutdown is complete');
    // The drained node's disconnects did not mark the moved agents offline. It has exited, so
    // all it wrote is written; the survivor's API reads after its own queued records.
    const agents = await listAgents(stable, tenant);
    assert.deepEqual(agents.filter((agent) => agent.online !== true).map((agent) => agent.clientId), [], 'every moved agent is online');
    assert.equal(agents.length, names.length);
  });

  it('SIGKILL of a node: its agents reconnect to the other with nothing onboarded lost, and persistent sessions get the QoS 1 messages published meanwhile', async () => {
    const doomed = cluster.node('postgres-cut');
    assert.ok(isReady(await readinessOf(doomed)), `the node to kill is ready: ${JSON.stringify(await readinessOf(doomed))}`);
    const tenant = newTenant('kill');
    const { ca, id: caId } = await registerVerifiedCa(doomed, tenant);
    const [commanded, reporter] = await Promise.all([issueAgent(ca, 'commanded'), issueAgent(ca, 'reporter')]);
    const commandedId = `${tenant}_commanded`;
    const reporterId = `${tenant}_reporter`;
    const applicationId = `${tenant}_durable-app`;
    const commandTopic = `tc/${tenant}/${commandedId}/i/command`;

    // Two persistent sessions (clean=false, QoS 1 subscriptions) on the node about to die: an agent
    // waiting for commands and an application collecting what agents publish.
    const commandedOnDoomed = resources.client(await connectAgent(doomed, commanded, commandedId, { clean: false }));
    assert.deepEqual(await subackCodes(commandedOnDoomed, { [`tc/${tenant}/${commandedId}/i/#`]: { qos: 1 } }), [1]);
    const applicationOnDoomed = resources.client(await connectApplication(doomed, tenant, { clean: false, clientId: applicationId }));
    assert.deepEqual(await subackCodes(applicationOnDoomed, { [`tc/${tenant}/+/o/#`]: { qos: 1 } }), [1]);
    const reporterOnDoomed = resources.client(await connectAgent(doomed, reporter, reporterId));
    const before = (await listAgents(doomed, tenant)).sort((a, b) => a.clientId.localeCompare(b.clientId));
    assert.deepEqual(before.map((agent) => agent.clientId), [commandedId, reporterId]);

    const closed = [commandedOnDoomed, applicationOnDoomed, reporterOnDoomed].map((client) => closesWithin(client, 3_000));
    await doomed.server.kill9();
    assert.deepEqual(await Promise.all(closed), [true, true, true], 'every client of the killed node lost its connection');

    // While both persistent sessions are disconnected: the reporter publishes from the survivor,
    // and an application on the survivor commands the offline agent.
    const reporterOnStable = resources.client(await connectAgent(stable, reporter, reporterId));
    const reports = ['r-1', 'r-2', 'r-3'];
    for (const report of reports) {
      await withTimeout(reporterOnStable.publishAsync(`tc/${tenant}/${reporterId}/o/report`, report, { qos: 1 }), 5_000, `PUBACK for ${report}`);
    }
    const commander = resources.client(await connectApplication(stable, tenant));
    await withTimeout(commander.publishAsync(commandTopic, 'open valve', { qos: 1 }), 5_000, 'PUBACK for the command');

    let agentLog!: MessageLog;
    let agentSessionPresent: boolean | undefined;
    resources.client(await connectAgent(stable, commanded, commandedId, { clean: false }, (client) => {
      agentLog = new MessageLog(client);
      client.once('connect', (connack) => { agentSessionPresent = connack.sessionPresent; });
    }));
    assert.equal(agentSessionPresent, true, 'the agent\'s session made on the killed node is present on the survivor');
    assert.equal((await agentLog.next(commandTopic, 5_000, 'open valve')).qos, 1, 'the command queued while the agent was away');

    let applicationLog!: MessageLog;
    let applicationSessionPresent: boolean | undefined;
    resources.client(await connectApplication(stable, tenant, { clean: false, clientId: applicationId }, (client) => {
      applicationLog = new MessageLog(client);
      client.once('connect', (connack) => { applicationSessionPresent = connack.sessionPresent; });
    }));
    assert.equal(applicationSessionPresent, true, 'the application\'s session made on the killed node is present on the survivor');
    for (const report of reports) await applicationLog.next(`tc/${tenant}/${reporterId}/o/report`, 5_000, report);
    // Control: a later report arrives behind any duplicate of the queued ones.
    await controlArrives(reporterOnStable, `tc/${tenant}/${reporterId}/o/report`, [applicationLog]);
    assert.deepEqual(applicationLog.under(`tc/${tenant}/`).filter((m) => !isControl(m)).map((m) => m.payload.toString()), reports, 'each queued report once, in order');

    // Nothing onboarded was lost: the survivor lists the same agents (same ids), online again.
    for (const agent of before) {
      const now = await waitForAgent(stable, tenant, agent.clientId, (a) => a.online === true, 3_000);
      assert.equal(now.id, agent.id, `${agent.clientId} keeps its id`);
      assert.equal(now.firstConnectedAt, agent.firstConnectedAt);
      assert.equal(now.caCertificateId, caId);
    }
    assert.equal((await listAgents(stable, tenant)).length, 2);
    const caResource = await stable.api(tenant, `/caCertificates/${caId}`);
    assert.equal(caResource.body?.isVerified, true, 'the CA is still verified');
  });
});
