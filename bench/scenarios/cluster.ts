import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { TENANT, type BenchPki } from '../lib/bench-pki.ts';
import { trustgateTarget, type BrokerTarget } from '../lib/broker-target.ts';
import { createClusterBacking } from '../lib/cluster-backing.ts';
import type { AgentIdentity } from '../lib/jobs.ts';
import type { Parameters } from '../lib/parameters.ts';
import { measureUndisturbed } from '../lib/processes.ts';
import { round } from '../lib/stats.ts';
import { startTrustgate, type TrustgateServer } from '../lib/trustgate-server.ts';
import { withPool, type WorkerPool } from '../lib/worker-pool.ts';
import { throughputRun, type Placement, type ThroughputFigures, type ThroughputOptions } from './throughput.ts';

// The encoding the nodes use on Redis (mqemitter-redis' dependency).
const msgpack = createRequire(createRequire(import.meta.url).resolve('mqemitter-redis'))('msgpack-lite') as { decode(buffer: Buffer): unknown };
/** Local traffic: one application and its publisher process per node (on one node: both on node 1). */
const LOCAL_GROUPS = 2;

export interface ClusterCase {
  readonly label: string;
  /**
   * across: the one tenant application on node 2, the agents on node 1 (single agent: every message
   * crosses Redis) or on both (fan-in: half of them cross). local (scale-out): two applications,
   * each with its own agents on the same node, so no message needs to cross (placement groups).
   */
  readonly traffic: 'across' | 'local';
  readonly qos: 0 | 1;
  readonly agents: number;
  readonly batchMessages: number;
  readonly publisherProcesses: number;
  /** Node 1 alone: every client on it. `paced`: across nodes the single agent at latencyRatePerSecond; local traffic at localRatePerNode per node (one node: one application and its agents, two nodes: both). */
  readonly oneNode: { saturated?: ThroughputFigures; paced?: ThroughputFigures };
  /** Nodes 1 and 2, the clients placed as `traffic` says. */
  readonly twoNodes: { saturated?: ThroughputFigures; paced?: ThroughputFigures };
  /** Client messages Redis carried during each rate run (counted by a subscriber to their channels: no noise from other Redis clients). */
  readonly throughRedis: { oneNode?: number; twoNodes?: number };
}

export interface ClusterFigures {
  readonly database: string;
  readonly redisPrefix: string;
  /** undefined: its CPU could not be read (not in this pid namespace). */
  readonly redisPid: number | undefined;
  readonly startSeconds: { readonly node1: number; readonly node2?: number };
  readonly cases: ClusterCase[];
}

// Scenario 7: the same throughput runs as scenario 2 (same load processes, same closed loop) on
// trustgate nodes that share PostgreSQL and Redis. First node 1 alone (the one-node figures, on the
// same PostgreSQL + Redis configuration), then node 2 joins with the same data dir and the same
// cases run again. Across nodes: the tenant application on node 2, the single agent on node 1,
// the fan-in agents split over both nodes (the cross-node path). Local traffic (what a cluster
// scales out with): one application per node, each receiving only its own node's agents, against
// the same clients all on node 1. The CPU of each node and of redis-server is read over every run,
// and the client messages Redis carried are counted; the paced runs (single agent across nodes)
// give the end-to-end latency at a fixed offered rate, on one node and across nodes.
export const runCluster = async (pki: BenchPki, p: Parameters, workDir: string, log: (line: string) => void): Promise<ClusterFigures> => {
  const c = p.cluster;
  const t = p.throughput;
  const backing = await createClusterBacking();
  log(`cluster: database ${backing.databaseName}, Redis prefix ${backing.redisPrefix}, redis-server pid ${backing.redisPid ?? 'not found'}`);
  const dataDir = join(workDir, 'trustgate-cluster');
  const nodes: TrustgateServer[] = [];
  const startNode = async (n: 1 | 2): Promise<TrustgateServer> => {
    const node = await startTrustgate(`trustgate node ${n}`, dataDir, {
      startTimeoutMs: 60_000,
      env: {
        TRUSTGATE_DATABASE_URL: backing.databaseUrl, TRUSTGATE_REDIS_URL: backing.redisUrl, TRUSTGATE_REDIS_PREFIX: backing.redisPrefix,
        TRUSTGATE_NODE_ID: `bench-${n}`,
      },
    });
    nodes.push(node);
    log(`cluster: node ${n} pid ${node.pid} (MQTT ${node.mqttPort}, HTTP ${node.httpUrl}) up in ${node.startSeconds.toFixed(1)} s`);
    return node;
  };
  const fanIn = `${c.fanInAgents} agents`;
  const halves = `${Math.ceil(c.fanInAgents / 2)} + ${Math.floor(c.fanInAgents / 2)} agents`;
  const cases: ClusterCase[] = ([
    { traffic: 'across', label: 'QoS 0, 1 agent → 1 application', qos: 0, agents: 1, batchMessages: t.streamBatchMessages, publisherProcesses: 1 },
    { traffic: 'across', label: 'QoS 1, 1 agent → 1 application', qos: 1, agents: 1, batchMessages: t.streamBatchMessages, publisherProcesses: 1 },
    { traffic: 'across', label: `QoS 0, ${fanIn} → 1 application`, qos: 0, agents: c.fanInAgents, batchMessages: 1, publisherProcesses: c.fanInProcesses },
    { traffic: 'across', label: `QoS 1, ${fanIn} → 1 application`, qos: 1, agents: c.fanInAgents, batchMessages: 1, publisherProcesses: c.fanInProcesses },
    { traffic: 'local', label: 'QoS 0, 2 × (1 agent → 1 application)', qos: 0, agents: 2, batchMessages: t.streamBatchMessages, publisherProcesses: 2 },
    { traffic: 'local', label: 'QoS 1, 2 × (1 agent → 1 application)', qos: 1, agents: 2, batchMessages: t.streamBatchMessages, publisherProcesses: 2 },
    { traffic: 'local', label: `QoS 0, ${halves} → 2 applications`, qos: 0, agents: c.fanInAgents, batchMessages: 1, publisherProcesses: LOCAL_GROUPS },
    { traffic: 'local', label: `QoS 1, ${halves} → 2 applications`, qos: 1, agents: c.fanInAgents, batchMessages: 1, publisherProcesses: LOCAL_GROUPS },
  ] as const).map((k) => ({ ...k, oneNode: {}, twoNodes: {}, throughRedis: {} }));
  // What crosses Redis, before and after the route table (decision 0028): mqemitter-redis' channel
  // per topic (`<prefix>mqtt:tc/…`) and the route table's channel per node (`<prefix>mqtt-node:…`).
  const watcher = new Redis(backing.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  watcher.on('error', () => undefined);
  let redisMessages = 0;
  // One message each on the topic channels; a batch `{ msgs }` on a node's channel.
  watcher.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => {
    if (!channel.includes('mqtt-node:')) {
      redisMessages += 1;
      return;
    }
    try {
      redisMessages += (msgpack.decode(message) as { msgs?: unknown[] }).msgs?.length ?? 0;
    } catch {
      // not a batch: nothing to count
    }
  });
  const options = (k: { qos: 0 | 1; batchMessages: number; publisherProcesses: number }, seconds: number, ratePerSecond?: number): ThroughputOptions => ({
    qos: k.qos, seconds, ratePerSecond, maxMessages: t.maxMessages, publisherProcesses: k.publisherProcesses, window: c.window,
    batchMessages: k.batchMessages, payloadBytes: t.payloadBytes, budgetMs: c.budgetMs, ecdhCurve: p.ecdhCurve,
  });
  const agents = (k: { agents: number }): readonly AgentIdentity[] => pki.agents.slice(0, k.agents);
  const warmup = { qos: 1, agents: c.fanInAgents, batchMessages: 1 } as const;
  // Every case as fast as it goes; the single-agent cases across nodes also at the fixed offered
  // rate. Local traffic has an unreported warm-up of its own first (new subscriptions, new routes).
  const measure = async (pool: WorkerPool, which: 'oneNode' | 'twoNodes', target: BrokerTarget, placement: (k: { traffic: 'across' | 'local'; agents: number }) => Placement) => {
    const name = which === 'oneNode' ? 'one node' : 'two nodes';
    for (const traffic of ['across', 'local'] as const) {
      const w = { ...warmup, traffic, publisherProcesses: traffic === 'local' ? LOCAL_GROUPS : c.fanInProcesses };
      if (traffic === 'local') await throughputRun(pool, target, agents(w), pki.agentKeyPem, options(w, c.warmupSeconds), placement(w));
      for (const k of cases.filter((x) => x.traffic === traffic)) {
        // Counted per attempt: a disturbed measurement may be taken again (--quiet-wait).
        const { crossed, ...f } = await measureUndisturbed(`cluster ${traffic} ${k.label}, ${name}`, async () => {
          const redisBefore = redisMessages;
          const figures = await throughputRun(pool, target, agents(k), pki.agentKeyPem, options(k, c.seconds), placement(k));
          return { ...figures, crossed: redisMessages - redisBefore };
        });
        k[which].saturated = f;
        k.throughRedis[which] = crossed;
        const cpu = (f.watched ?? []).map((w) => `${w.label} ${w.cpuSecondsPer100k}`).join(', ');
        let paced = '';
        if (traffic === 'local') {
          // The same load and the same clients per node: one node serves one application and its
          // agents (half the clients) at the rate per node, two nodes serve both at that rate each.
          const alone = which === 'oneNode';
          const rate = c.localRatePerNode * (alone ? 1 : 2);
          const half = alone ? { ...k, agents: k.agents / 2, publisherProcesses: 1 } : k;
          const where = placement(k);
          const l = k[which].paced = await measureUndisturbed(`cluster local ${k.label} at ${rate}/s, ${name}`,
            () => throughputRun(pool, target, agents(half), pki.agentKeyPem, options(half, c.seconds, rate), alone ? { ...where, groups: where.groups?.slice(0, 1) } : where));
          paced = `; at ${rate}/s: ${l.perSecond}/s, CPU s per 100k ${(l.watched ?? []).map((w) => `${w.label} ${w.cpuSecondsPer100k}`).join(', ')}`;
        } else if (k.agents === 1) {
          const l = k[which].paced = await measureUndisturbed(`cluster ${traffic} ${k.label} at ${c.latencyRatePerSecond}/s, ${name}`,
            () => throughputRun(pool, target, agents(k), pki.agentKeyPem, options(k, c.latencySeconds, c.latencyRatePerSecond), placement(k)));
          paced = `; at ${c.latencyRatePerSecond}/s p50 ${l.p50Ms} p99 ${l.p99Ms} ms`;
        }
        const perGroup = f.groups ? ` (${f.groups.map((g) => g.received).join(' + ')})` : '';
        log(`cluster ${traffic === 'across' ? 'across nodes' : 'local traffic'} ${k.label}, ${name}: ${f.perSecond}/s (${f.received}${perGroup}/${f.sent}), through Redis ${crossed}, ` +
          `CPU s per 100k: ${cpu}; load generator busy ${Math.round(f.loadCpuShare * 100)} %${paced}`);
        // Traffic that stays on its node must not touch Redis (decision 0028): say so loudly if it did.
        if (traffic === 'local' && crossed > 0) log(`cluster: FLAG: ${crossed} client messages of local traffic crossed Redis (${k.label}, ${name}); expected none`);
      }
    }
  };

  await watcher.connect();
  await watcher.psubscribe(`${backing.redisPrefix}mqtt:tc/*`, `${backing.redisPrefix}mqtt-node:*`);
  try {
    // The load processes start while node 1 does: the applications (one, or one per local group) and the publishers.
    return await withPool(LOCAL_GROUPS + Math.max(c.fanInProcesses, LOCAL_GROUPS), async (pool) => {
      const node1 = await startNode(1);
      // The tenant's CAs through node 1's API, as for the single node; node 2 loads them from PostgreSQL.
      for (const ca of pki.tenantCas) await node1.registerVerifiedCa(TENANT, ca);
      const token = await node1.token(TENANT, ['mcmqtt.read']);
      const target1 = trustgateTarget(pki, node1, token);
      const redis = backing.redisPid === undefined ? [] : [{ label: 'redis-server', pid: backing.redisPid }];

      // One node: node 1 alone, every client on it (local traffic: both applications and their agents).
      const watch1 = [{ label: 'node 1', pid: node1.pid }, ...redis];
      const onNode1 = (k: { traffic: 'across' | 'local' }): Placement => k.traffic === 'across' ? { watch: watch1 }
        : { groups: [{ application: target1, publishers: target1 }, { application: target1, publishers: target1 }], watch: watch1 };
      await throughputRun(pool, target1, agents(warmup), pki.agentKeyPem, options({ ...warmup, publisherProcesses: c.fanInProcesses }, c.warmupSeconds), onNode1({ traffic: 'across' }));
      log('cluster: one node warmed up');
      await measure(pool, 'oneNode', target1, onNode1);

      // Two nodes: node 2 joins (same data dir, keys made by node 1). Across nodes the application
      // moves to node 2; local traffic has one application and its agents on each node.
      const node2 = await startNode(2);
      const target2 = trustgateTarget(pki, node2, token);
      const watch = [{ label: 'node 1', pid: node1.pid }, { label: 'node 2', pid: node2.pid }, ...redis];
      const onTwoNodes = (k: { traffic: 'across' | 'local'; agents: number }): Placement => k.traffic === 'local'
        ? { groups: [{ application: target1, publishers: target1 }, { application: target2, publishers: target2 }], watch }
        : { application: target2, publishers: k.agents === 1 ? [target1] : [target1, target2], watch };
      await throughputRun(pool, target1, agents(warmup), pki.agentKeyPem, options({ ...warmup, publisherProcesses: c.fanInProcesses }, c.warmupSeconds),
        onTwoNodes({ traffic: 'across', agents: warmup.agents }));
      log('cluster: two nodes warmed up');
      await measure(pool, 'twoNodes', target1, onTwoNodes);

      return {
        database: backing.databaseName, redisPrefix: backing.redisPrefix, redisPid: backing.redisPid,
        startSeconds: { node1: round(node1.startSeconds), node2: round(node2.startSeconds) }, cases,
      };
    });
  } finally {
    watcher.disconnect();
    for (const node of nodes.reverse()) await node.stop().catch(() => undefined);
    await backing.remove().then(
      ({ keysDeleted }) => log(`cluster: database ${backing.databaseName} dropped, ${keysDeleted} Redis keys under ${backing.redisPrefix} deleted`),
      (error: Error) => log(`cluster: cleaning up failed: ${error.message}`),
    );
  }
};
