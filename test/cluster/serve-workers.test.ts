import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connectAgent, issueAgent, registerVerifiedCa, Resources } from '../support/broker-helpers.ts';
import { closedWithin } from '../support/broker-refusal-helpers.ts';
import { newTenant } from '../support/api-helpers.ts';
import { assertOneLineFailure, cli } from '../support/run-cli.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { TEST_REDIS_URL } from '../support/redis-helpers.ts';
import { describeNeeding } from '../support/test-services.ts';
import { waitUntil } from '../support/wait-until.ts';

// `trustgate serve --workers 2` (decision 0031), the real CLI as an operator runs it: two worker
// processes share one MQTT and one HTTP port, each a cluster node on PostgreSQL and Redis.
const SERVING = 'trustgate workers serving';
const AGENTS = 16;

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describeNeeding('postgres', 'redis')('trustgate serve --workers 2', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let box: ClusterNode;
  const resources = new Resources();
  const pidsOf = (): number[] => {
    const lines = box.server.logLines().filter((line) => line.msg === SERVING || line.msg === 'worker restarted');
    const pids = (lines.find((line) => line.msg === SERVING)?.pids as number[] | undefined) ?? [];
    for (const line of lines) if (line.msg === 'worker restarted') pids[line.worker as number] = line.pid as number;
    return pids;
  };
  /** Per worker, how many sessions its "closed sessions after a trust change" lines closed for `tenant`. */
  const closedByWorker = (tenant: string): Map<number, number> => {
    const closed = new Map<number, number>();
    for (const line of box.server.logLines()) {
      if (line.msg !== 'closed sessions after a trust change' || line.tenant !== tenant) continue;
      closed.set(line.worker as number, (closed.get(line.worker as number) ?? 0) + (line.closed as number));
    }
    return closed;
  };
  const connectMany = async (tenant: string, prefix: string): Promise<{ clients: MqttClient[]; caId: string }> => {
    const { ca, id } = await registerVerifiedCa(box, tenant);
    const clients: MqttClient[] = [];
    for (let i = 0; i < AGENTS; i += 1) {
      const agent = await issueAgent(ca, `${prefix}-${i}`);
      clients.push(resources.client(await connectAgent(box, agent, `${tenant}_${prefix}-${i}`)));
    }
    return { clients, caId: id };
  };
  /** DELETE the CA, then every one of `clients` must be closed within 1 s of the answer; returns who closed how many. */
  const deleteCaClosesAll = async (tenant: string, caId: string, clients: readonly MqttClient[]): Promise<Map<number, number>> => {
    const closings = clients.map((client, i) => closedWithin(client, 5_000, `agent ${i}`));
    const answer = await box.api(tenant, `/caCertificates/${caId}`, { method: 'DELETE' });
    const answeredAt = performance.now();
    assert.equal(answer.status, 204, JSON.stringify(answer.body));
    const elapsed = await Promise.all(closings.map((closing) => closing.elapsedSince(answeredAt)));
    assert.ok(Math.max(...elapsed) < 1_000, `every session closed within 1 s of the answer (slowest ${Math.max(...elapsed).toFixed(0)} ms)`);
    await waitUntil(() => [...closedByWorker(tenant).values()].reduce((a, b) => a + b, 0) === clients.length, 5_000, 'both workers logged what they closed');
    return closedByWorker(tenant);
  };

  before(async () => {
    cluster = await startCluster({ nodes: [{ name: 'box', env: { TRUSTGATE_WORKERS: '2' }, startTimeoutMs: 90_000 }], label: 'workers' });
    [box] = cluster.nodes as [ClusterNode];
    await waitUntil(() => pidsOf().length === 2, 60_000, 'both workers serve');
  });

  after(async () => {
    await resources.closeAll();
    for (const pid of pidsOf()) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    await cluster?.close();
  });

  it('spreads agents over both workers, and a CA deleted through either closes the sessions on both within 1 s', async () => {
    const tenant = newTenant('wk');
    const { clients, caId } = await connectMany(tenant, 'a');
    const closed = await deleteCaClosesAll(tenant, caId, clients);
    assert.deepEqual([...closed.keys()].sort(), [0, 1], `both workers held sessions: ${JSON.stringify([...closed])}`);
  });

  it('a killed worker leaves the other serving, and the supervisor starts it again', async () => {
    const [, victim] = pidsOf() as [number, number];
    process.kill(victim, 'SIGKILL');
    // Once the supervisor has reaped it, its listening sockets are closed (connections the kernel
    // queued on them before are reset) and every new connection lands on worker 0.
    await waitUntil(() => box.server.logLines().some((line) => line.msg === 'worker died: restarting it' && line.worker === 1), 30_000, 'the supervisor saw worker 1 die');
    const tenant = newTenant('wk');
    const { clients, caId } = await connectMany(tenant, 'b');
    await waitUntil(() => pidsOf()[1] !== victim, 60_000, 'the supervisor restarted worker 1');
    assert.equal(isRunning(victim), false);
    const after = await deleteCaClosesAll(tenant, caId, clients);
    assert.deepEqual([...after.keys()], [0], 'only worker 0 took connections while worker 1 was down');
    // And the new worker 1 takes connections again.
    const later = newTenant('wk');
    const again = await connectMany(later, 'c');
    const closed = await deleteCaClosesAll(later, again.caId, again.clients);
    assert.deepEqual([...closed.keys()].sort(), [0, 1], `both workers held sessions again: ${JSON.stringify([...closed])}`);
  });

  it('SIGTERM to the supervisor drains and stops every worker, exit 0', async () => {
    const pids = pidsOf();
    assert.equal(pids.length, 2);
    const code = await box.server.stop('SIGTERM', { timeoutMs: 30_000 });
    assert.equal(code, 0, box.server.output().slice(-2000));
    for (const pid of pids) assert.equal(isRunning(pid), false, `worker ${pid} is gone`);
    const completes = box.server.logLines().filter((line) => line.msg === 'shutdown complete').map((line) => line.worker);
    assert.ok(completes.includes(0) && completes.includes(1), `both workers shut down cleanly: ${JSON.stringify(completes)}`);
  });

  it('a killed supervisor leaves no orphan: its workers shut down by themselves', async () => {
    const again = await cluster.startNode({ name: 'box2', env: { TRUSTGATE_WORKERS: '2' }, startTimeoutMs: 90_000 });
    let pids: number[] = [];
    await waitUntil(() => {
      pids = (again.server.logLines().find((line) => line.msg === SERVING)?.pids as number[] | undefined) ?? [];
      return pids.length === 2;
    }, 60_000, 'both workers of the second box serve');
    await again.server.kill9();
    await waitUntil(() => pids.every((pid) => !isRunning(pid)), 15_000, 'the orphaned workers exited');
    const gone = again.server.logLines().filter((line) => line.msg === 'shutting down' && line.signal === 'supervisor gone').map((line) => line.worker);
    assert.deepEqual(gone.sort(), [0, 1], 'each worker noticed its supervisor was gone and shut down');
  });
});

describe('trustgate serve --workers refuses what it cannot run safely', { timeout: 60_000 }, () => {
  let dataDir: string;
  before(async () => { dataDir = await mkdtemp(join(tmpdir(), 'trustgate-workers-refusals-')); });
  after(() => rm(dataDir, { recursive: true, force: true }));
  const env = () => ({ TRUSTGATE_DATA_DIR: dataDir, TRUSTGATE_HTTP_PORT: '0', TRUSTGATE_MQTT_PORT: '0', TRUSTGATE_HTTP_HOST: '127.0.0.1', TRUSTGATE_MQTT_HOST: '127.0.0.1' });

  it('on SQLite without Redis: exit 78, one line naming what it needs', async () => {
    const result = await cli(['serve', '--workers', '2'], { env: env() });
    assertOneLineFailure(result, 78, /TRUSTGATE_WORKERS=2 .*needs TRUSTGATE_REDIS_URL and TRUSTGATE_DATABASE_URL=postgres/);
  });

  it('TRUSTGATE_WORKERS=2 with Redis but SQLite: exit 78', async () => {
    const result = await cli(['serve'], { env: { ...env(), TRUSTGATE_WORKERS: '2', TRUSTGATE_REDIS_URL: TEST_REDIS_URL } });
    assert.equal(result.code, 78, result.stderr);
    assert.match(result.stderr, /TRUSTGATE_REDIS_URL \(a cluster\) needs TRUSTGATE_DATABASE_URL=postgres/);
  });

  for (const bad of ['0', '65', 'two', '1.5', '-1']) {
    it(`--workers ${bad}: exit 64 (usage), one line`, async () => {
      assertOneLineFailure(await cli(['serve', '--workers', bad], { env: env() }), 64, /--workers/);
    });
  }

  it('TRUSTGATE_WORKERS=abc: exit 78, one line', async () => {
    assertOneLineFailure(await cli(['serve'], { env: { ...env(), TRUSTGATE_WORKERS: 'abc' } }), 78, /TRUSTGATE_WORKERS="abc" must be a whole number from 1 to 64/);
  });

  it('a TRUSTGATE_NODE_ID with no room for the worker suffix: exit 78', async () => {
    const result = await cli(['serve', '--workers', '12'], { env: { ...env(), TRUSTGATE_NODE_ID: 'n'.repeat(30), TRUSTGATE_REDIS_URL: TEST_REDIS_URL, TRUSTGATE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' } });
    assertOneLineFailure(result, 78, /TRUSTGATE_NODE_ID=.* is too long for 12 workers: .*use at most 27/);
  });

  it('an MQTT port already taken (even by a SO_REUSEPORT group of the same user): exit 75, one line, no worker started', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen({ port: 0, host: '127.0.0.1', reusePort: true }, resolve));
    try {
      const port = (holder.address() as { port: number }).port;
      const result = await cli(['serve', '--workers', '2'], {
        env: { ...env(), TRUSTGATE_MQTT_PORT: String(port), TRUSTGATE_REDIS_URL: TEST_REDIS_URL, TRUSTGATE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      });
      assertOneLineFailure(result, 75, new RegExp(`port ${port} is already in use.*TRUSTGATE_MQTT_PORT`));
    } finally {
      holder.close();
    }
  });
});
