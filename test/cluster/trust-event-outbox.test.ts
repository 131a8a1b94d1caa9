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

// Issue 12 item 1, decision 0019: a trust change's event is written with the change (the outbox)
// and published until Redis took it, by any node. A node that lost Redis and was stopped or killed
// before it came back leaves its events in the database, and another node sends them. The trust
// change counter is set far out of reach here (10 minutes), so it cannot be what repairs the
// other node: before the outbox, the other node kept the deleted CA's agent connected, and kept
// refusing the verified CA's agents, for as long as the test ran.

const CONVERGENCE_MS = 600_000;
// The outbox is checked every second by every node; generous room for a loaded 2-core runner.
const BOUND_MS = 8_000;
const NOT_AUTHORIZED = 5;

/** Rows waiting in the cluster database's outbox. */
const pendingEvents = async (databaseUrl: string): Promise<number> => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>('select count(*) as n from trust_event_outbox')).rows[0]!.n);
  } finally {
    await client.end();
  }
};

describeNeeding('postgres', 'redis')('trust events are written with their changes and sent by any node until Redis took them', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let stable: ClusterNode;
  const redisProxy = TcpOutageProxy.forUrl(TEST_REDIS_URL, 6379);
  const resources = new Resources();

  before(async () => {
    await redisProxy.start();
    resources.add(() => redisProxy.close());
    const cutOff = { TRUSTGATE_REDIS_URL: redisProxy.urlThrough(TEST_REDIS_URL) };
    cluster = await startCluster({
      label: 'outbox',
      env: { TRUSTGATE_CLUSTER_CONVERGENCE_MS: String(CONVERGENCE_MS) },
      nodes: [{ name: 'stable' }, { name: 'stopped', env: cutOff }, { name: 'killed', env: cutOff }],
    });
    stable = cluster.node('stable');
  });

  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  /** Cuts the proxied nodes' Redis and waits until `node` says so. */
  const cutRedisOf = async (node: ClusterNode): Promise<void> => {
    await redisProxy.cut();
    await waitUntil(async () => (await node.readyz(1_500).catch(() => undefined))?.status === 503, 5_000, `${node.name} noticing Redis gone`);
  };

  it('a CA deleted through a node that lost Redis and was stopped before it came back: the other node sends the event, closes the agent\'s session and refuses its agents', async (t) => {
    const node = cluster.node('stopped');
    const tenant = newTenant('obdel');
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
      assert.ok(node.server.logLines().some((line) => String(line.msg).startsWith('could not send trust events to the other nodes')),
        'a precondition: the node that made the change could not send its event');

      assert.equal(await closed, true, 'the deleted CA\'s agent was disconnected from the other node');
      const elapsed = await closedAt - deletedAt;
      t.diagnostic(`the other node closed the session ${elapsed.toFixed(0)} ms after the DELETE answer (convergence ${CONVERGENCE_MS} ms: not the counter)`);
      assert.ok(elapsed < BOUND_MS, `closed ${elapsed.toFixed(0)} ms after the DELETE answer (bound ${BOUND_MS} ms)`);
      assert.equal(await refusalCodeOf(connectAgent(stable, certificate, `${tenant}_a-1`), resources), NOT_AUTHORIZED,
        'the other node no longer admits agents of the deleted CA');
      await assertStillConnected(keeper, `tc/${tenant}/${tenant}_k-1/i/#`);
      await waitUntil(async () => await pendingEvents(cluster.databaseUrl) === 0, 5_000, 'the outbox emptied');
    } finally {
      await redisProxy.restore();
    }
  });

  it('a CA verified through a node that lost Redis and was killed: the other node sends the event and admits its agents', async (t) => {
    const node = cluster.node('killed');
    const tenant = newTenant('obver');
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
      assert.ok(node.server.logLines().some((line) => String(line.msg).startsWith('could not send trust events to the other nodes')),
        'a precondition: the node that made the change could not send its event');
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
      t.diagnostic(`the other node admitted the agent ${elapsed.toFixed(0)} ms after the verifying node was killed (convergence ${CONVERGENCE_MS} ms: not the counter)`);
      assert.ok(elapsed < BOUND_MS, `admitted ${elapsed.toFixed(0)} ms after the kill (bound ${BOUND_MS} ms)`);
    } finally {
      await redisProxy.restore();
    }
  });
});
