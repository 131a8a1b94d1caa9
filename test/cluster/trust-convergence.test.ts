import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { newTenant, proofFor, registrationCodeOf, uploadCaOk, verify } from '../support/api-helpers.ts';
import { closesWithin, connectAgent, issueAgent, refusalCodeOf, registerVerifiedCa, Resources } from '../support/broker-helpers.ts';
import { assertStillConnected } from '../support/broker-refusal-helpers.ts';
import { TEST_REDIS_URL } from '../support/redis-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { TcpOutageProxy } from '../support/tcp-proxy.ts';
import { createCa } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';
import { describeNeeding } from '../support/test-services.ts';

// Issue 12 item 1, decision 0018: a trust change whose event never reaches the other nodes (the
// node that made it lost Redis and was stopped or killed before Redis came back) still reaches
// them within the convergence bound: every node reads the database's trust change counter every
// TRUSTGATE_CLUSTER_CONVERGENCE_MS and resyncs when it moved. Before it, the other nodes kept the
// deleted CA's agents connected and admitted new ones, or kept refusing a verified CA's agents,
// until their own restart.
// Since decision 0019 the event is also written to the outbox with the change and sent by any
// node: to test the counter alone, the events are lost on purpose here (a trigger the test adds
// drops every insert into the outbox); test/cluster/trust-event-outbox.test.ts tests the outbox.

const CONVERGENCE_MS = 500;
// The bound the test holds the cluster to: one interval, one reload and the session re-check,
// with generous room for a loaded 2-core runner.
const BOUND_MS = 5_000;
const NOT_AUTHORIZED = 5;

describeNeeding('postgres', 'redis')('trust changes whose events are lost reach the other nodes within the convergence bound', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let stable: ClusterNode;
  const redisProxy = TcpOutageProxy.forUrl(TEST_REDIS_URL, 6379);
  const resources = new Resources();

  before(async () => {
    await redisProxy.start();
    resources.add(() => redisProxy.close());
    const cutOff = { TRUSTGATE_REDIS_URL: redisProxy.urlThrough(TEST_REDIS_URL) };
    cluster = await startCluster({
      label: 'converge',
      env: { TRUSTGATE_CLUSTER_CONVERGENCE_MS: String(CONVERGENCE_MS) },
      nodes: [{ name: 'stable' }, { name: 'stopped', env: cutOff }, { name: 'killed', env: cutOff }],
    });
    stable = cluster.node('stable');
    const client = new pg.Client({ connectionString: cluster.databaseUrl });
    await client.connect();
    try {
      await client.query('CREATE FUNCTION lose_trust_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$');
      await client.query('CREATE TRIGGER lose_trust_events BEFORE INSERT ON trust_event_outbox FOR EACH ROW EXECUTE FUNCTION lose_trust_events()');
    } finally {
      await client.end();
    }
  });

  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  /** Cuts the proxied nodes' Redis and waits until `node` says so (its publishes now queue). */
  const cutRedisOf = async (node: ClusterNode): Promise<void> => {
    await redisProxy.cut();
    await waitUntil(async () => (await node.readyz(1_500).catch(() => undefined))?.status === 503, 5_000, `${node.name} noticing Redis gone`);
  };

  it('a CA deleted through a node that lost Redis and was stopped before it came back: the other node closes its agent\'s session and refuses its agents', async (t) => {
    const node = cluster.node('stopped');
    const tenant = newTenant('lostdel');
    const { ca, id } = await registerVerifiedCa(stable, tenant);
    const certificate = await issueAgent(ca, 'a-1');
    const agent = resources.client(await connectAgent(stable, certificate, `${tenant}_a-1`));
    const keeperCa = await registerVerifiedCa(stable, tenant, { subject: `CN=${tenant}-kept` });
    const keeper = resources.client(await connectAgent(stable, await issueAgent(keeperCa.ca, 'k-1'), `${tenant}_k-1`));

    await cutRedisOf(node);
    try {
      const closed = closesWithin(agent, BOUND_MS + 10_000);
      const closedAt = new Promise<number>((resolve) => agent.once('close', () => resolve(performance.now())));
      const answer = await node.api(tenant, `/caCertificates/${id}`, { method: 'DELETE' });
      const deletedAt = performance.now();
      assert.equal(answer.status, 204, JSON.stringify(answer.body));
      assert.equal(await node.server.stop('SIGTERM', { timeoutMs: 10_000 }), 0);

      assert.equal(await closed, true, 'the deleted CA\'s agent was disconnected from the other node');
      const elapsed = await closedAt - deletedAt;
      t.diagnostic(`the other node closed the session ${elapsed.toFixed(0)} ms after the DELETE answer (convergence ${CONVERGENCE_MS} ms)`);
      assert.ok(elapsed < BOUND_MS, `closed ${elapsed.toFixed(0)} ms after the DELETE answer (bound ${BOUND_MS} ms)`);
      assert.equal(await refusalCodeOf(connectAgent(stable, certificate, `${tenant}_a-1`), resources), NOT_AUTHORIZED,
        'the other node no longer admits agents of the deleted CA');
      await assertStillConnected(keeper, `tc/${tenant}/${tenant}_k-1/i/#`);
    } finally {
      await redisProxy.restore();
    }
  });

  it('a CA verified through a node that lost Redis and was killed: the other node admits its agents', async (t) => {
    const node = cluster.node('killed');
    const tenant = newTenant('lostver');
    const ca = await createCa({ subject: `CN=${tenant}-ca` });
    const resource = await uploadCaOk(stable, tenant, { certificatePem: ca.certificatePem });
    const code = await registrationCodeOf(stable, tenant, resource.id);
    const certificate = await issueAgent(ca, 'v-1');
    // A positive control: the other node refuses the agent while its CA is unverified.
    assert.equal(await refusalCodeOf(connectAgent(stable, certificate, `${tenant}_v-1`), resources), NOT_AUTHORIZED);

    await cutRedisOf(node);
    try {
      const answer = await verify(node, tenant, resource.id, (await proofFor(ca, code, { version: 1 })).certificatePem);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      await node.server.kill9();
      const killedAt = performance.now();

      let admittedAt: number | undefined;
      await waitUntil(async () => {
        try {
          resources.client(await connectAgent(stable, certificate, `${tenant}_v-1`));
          admittedAt = performance.now();
          return true;
        } catch {
          return false;
        }
      }, BOUND_MS + 10_000, 'the other node admitting the verified CA\'s agent');
      const elapsed = admittedAt! - killedAt;
      t.diagnostic(`the other node admitted the agent ${elapsed.toFixed(0)} ms after the verifying node was killed (convergence ${CONVERGENCE_MS} ms)`);
      assert.ok(elapsed < BOUND_MS, `admitted ${elapsed.toFixed(0)} ms after the kill (bound ${BOUND_MS} ms)`);
    } finally {
      await redisProxy.restore();
    }
  });
});
