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

export interface ClusterCase {
  readonly label: string;
  readonly qos: 0 | 1;
  readonly agents: number;
  readonly batchMessages: number;
  /** Node 1 alone: every client on it. */
  readonly oneNode: { saturated?: ThroughputFigures; paced?: ThroughputFigures };
  /** Nodes 1 and 2: the application on node 2, the agents on node 1 (one agent) or on both (fan-in). */
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
// cases run again with the tenant application on node 2: the single agent publishes on node 1,
// the fan-in agents are split over both nodes. The CPU of each node and of redis-server is read
// over every run; the paced runs (the single-agent cases) give the end-to-end latency at a fixed
// offered rate, on one node and across nodes.
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
  const cases: ClusterCase[] = ([
    { label: 'QoS 0, 1 agent → 1 application', qos: 0, agents: 1, batchMessages: t.streamBatchMessages },
    { label: 'QoS 1, 1 agent → 1 application', qos: 1, agents: 1, batchMessages: t.streamBatchMessages },
    { label: `QoS 0, ${c.fanInAgents} agents → 1 application`, qos: 0, agents: c.fanInAgents, batchMessages: 1 },
    { label: `QoS 1, ${c.fanInAgents} agents → 1 application`, qos: 1, agents: c.fanInAgents, batchMessages: 1 },
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
  const options = (k: { qos: 0 | 1; agents: number; batchMessages: number }, seconds: number, ratePerSecond?: number): ThroughputOptions => ({
    qos: k.qos, seconds, ratePerSecond, maxMessages: t.maxMessages, publisherProcesses: k.agents === 1 ? 1 : c.fanInProcesses, window: c.window,
    batchMessages: k.batchMessages, payloadBytes: t.payloadBytes, budgetMs: c.budgetMs, ecdhCurve: p.ecdhCurve,
  });
  const agents = (k: { agents: number }): readonly AgentIdentity[] => pki.agents.slice(0, k.agents);
  const warmup = { qos: 1, agents: c.fanInAgents, batchMessages: 1 } as const;
  // Every case as fast as it goes; the single-agent cases also at the fixed offered rate.
  const measure = async (pool: WorkerPool, which: 'oneNode' | 'twoNodes', target: BrokerTarget, placement: (k: ClusterCase) => Placement) => {
    const name = which === 'oneNode' ? 'one node' : 'two nodes';
    for (const k of cases) {
      const redisBefore = redisMessages;
      const f = k[which].saturated = await measureUndisturbed(`cluster ${k.label}, ${name}`,
        () => throughputRun(pool, target, agents(k), pki.agentKeyPem, options(k, c.seconds), placement(k)));
      k.throughRedis[which] = redisMessages - redisBefore;
      const cpu = (f.watched ?? []).map((w) => `${w.label} ${w.cpuSecondsPer100k}`).join(', ');
      let paced = '';
      if (k.agents === 1) {
        const l = k[which].paced = await measureUndisturbed(`cluster ${k.label} at ${c.latencyRatePerSecond}/s, ${name}`,
          () => throughputRun(pool, target, agents(k), pki.agentKeyPem, options(k, c.latencySeconds, c.latencyRatePerSecond), placement(k)));
        paced = `; at ${c.latencyRatePerSecond}/s p50 ${l.p50Ms} p99 ${l.p99Ms} ms`;
      }
      log(`cluster ${k.label}, ${name}: ${f.perSecond}/s (${f.received}/${f.sent}), through Redis ${k.throughRedis[which]}, CPU s per 100k: ${cpu}${paced}`);
    }
  };

  await watcher.connect();
  await watcher.psubscribe(`${backing.redisPrefix}mqtt:tc/*`, `${backing.redisPrefix}mqtt-node:*`);
  try {
    // The load processes start while node 1 does.
    return await withPool(1 + c.fanInProcesses, async (pool) => {
      const node1 = await startNode(1);
      // The tenant's CAs through node 1's API, as for the single node; node 2 loads them from PostgreSQL.
      for (const ca of pki.tenantCas) await node1.registerVerifiedCa(TENANT, ca);
      const token = await node1.token(TENANT, ['mcmqtt.read']);
      const target1 = trustgateTarget(pki, node1, token);
      const redis = backing.redisPid === undefined ? [] : [{ label: 'redis-server', pid: backing.redisPid }];

      // One node: node 1 alone, every client on it.
      const onNode1: Placement = { watch: [{ label: 'node 1', pid: node1.pid }, ...redis] };
      await throughputRun(pool, target1, agents(warmup), pki.agentKeyPem, options(warmup, c.warmupSeconds), onNode1);
      log('cluster: one node warmed up');
      await measure(pool, 'oneNode', target1, () => onNode1);

      // Two nodes: node 2 joins (same data dir, keys made by node 1); the application moves to it.
      const node2 = await startNode(2);
      const target2 = trustgateTarget(pki, node2, token);
      const watch = [{ label: 'node 1', pid: node1.pid }, { label: 'node 2', pid: node2.pid }, ...redis];
      const acrossNodes = (k: { agents: number }): Placement => ({ application: target2, publishers: k.agents === 1 ? [target1] : [target1, target2], watch });
      await throughputRun(pool, target1, agents(warmup), pki.agentKeyPem, options(warmup, c.warmupSeconds), acrossNodes(warmup));
      log('cluster: two nodes warmed up');
      await measure(pool, 'twoNodes', target1, acrossNodes);

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
