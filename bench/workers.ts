import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createBenchPki, TENANT } from './lib/bench-pki.ts';
import { trustgateTarget } from './lib/broker-target.ts';
import { createClusterBacking } from './lib/cluster-backing.ts';
import type { AgentIdentity, ConnectResult, Job } from './lib/jobs.ts';
import { killAllChildren, sampleProcess, sleep, watchOtherCpu } from './lib/processes.ts';
import { concat, percentile, round } from './lib/stats.ts';
import { startTrustgate } from './lib/trustgate-server.ts';
import { split, withPool, type WorkerPool } from './lib/worker-pool.ts';

// `trustgate serve --workers N` (decision 0031) under scenario 1's reconnect load: the same load
// processes, agents and connect job (mutual TLS, CONNECT, CONNACK, DISCONNECT; 8 in flight per
// load process), against 1 worker and then 2 workers, both cluster nodes on a fresh PostgreSQL
// database and a Redis prefix of their own (so the only difference is the worker count). CPU is
// read from /proc/<pid>/stat of each worker, and of redis-server; PostgreSQL's backends are not
// counted (a reconnect of a known agent queues one batched UPDATE).
//
//   node bench/workers.ts [--agents 600] [--passes 3] [--processes 3] [--workers 1,2] [--idle-peer]
//
// With --idle-peer the last CPU figure is the idle node's.
//
// Apart from bench/run.ts on purpose: the bench's own `--workers` names its load processes.

const { values } = parseArgs({ options: {
  agents: { type: 'string', default: '600' }, passes: { type: 'string', default: '3' },
  processes: { type: 'string', default: '3' }, workers: { type: 'string', default: '1,2' },
  // One more cluster node on the same database and Redis prefix, taking no connections: what a
  // connect on one node costs every other node (aedes' client-id takeover announcement, …).
  'idle-peer': { type: 'boolean', default: false },
} });
const agentCount = Number(values.agents);
const passes = Number(values.passes);
const processes = Number(values.processes);
const workerCounts = values.workers.split(',').map(Number);
const CONCURRENCY = 8;
const log = (line: string) => process.stdout.write(`${line}\n`);

/** The pids of a supervisor's workers (its children), or the server itself with one worker. */
const workerPids = async (pid: number): Promise<number[]> => {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim();
  return children === '' ? [] : children.split(' ').map(Number);
};

const cpuOf = async (pids: readonly number[]): Promise<number[]> => Promise.all(pids.map(async (pid) => (await sampleProcess(pid)).cpuSeconds));

interface PassFigures { connects: number; failures: number; perSecond: number; p99Ms: number; workerCpu: number[]; redisCpu: number; loadCpuMs: number; otherCpu: number; seconds: number }

const pass = async (pool: WorkerPool, job: (agents: readonly AgentIdentity[]) => Job, agents: readonly AgentIdentity[], pids: readonly number[], redisPid: number | undefined): Promise<PassFigures> => {
  let before: number[] = [];
  let redisBefore = 0;
  let other: Awaited<ReturnType<typeof watchOtherCpu>> | undefined;
  const results = await pool.run<ConnectResult>(split(agents, pool.processes.length).map(job), {
    timeoutMs: 120_000,
    beforeGo: async () => {
      other = await watchOtherCpu();
      before = await cpuOf(pids);
      redisBefore = redisPid ? (await sampleProcess(redisPid)).cpuSeconds : 0;
    },
  });
  await sleep(300);
  const after = await cpuOf(pids);
  const redisAfter = redisPid ? (await sampleProcess(redisPid)).cpuSeconds : 0;
  const otherCpu = await other!([...pids, ...(redisPid ? [redisPid] : []), ...pool.processes.map((p) => p.child.pid ?? 0)]);
  const latencies = concat(results.map((r) => r.latenciesMs));
  const seconds = (Math.max(...results.map((r) => r.endMs)) - Math.min(...results.map((r) => r.startMs))) / 1000;
  return {
    connects: latencies.length, failures: results.reduce((sum, r) => sum + r.failures, 0), seconds,
    perSecond: latencies.length / seconds, p99Ms: percentile(latencies, 0.99),
    workerCpu: after.map((cpu, i) => cpu - before[i]!), redisCpu: redisAfter - redisBefore,
    loadCpuMs: results.reduce((sum, r) => sum + r.cpuMs, 0), otherCpu: other ? otherCpu.seconds : 0,
  };
};

const pki = await createBenchPki(agentCount);
const work = await mkdtemp(join(tmpdir(), 'trustgate-bench-workers-'));
try {
  for (const count of workerCounts) {
    const backing = await createClusterBacking();
    try {
      const server = await startTrustgate(`trustgate --workers ${count}`, join(work, `w${count}`), {
        startTimeoutMs: 90_000,
        env: {
          TRUSTGATE_DATABASE_URL: backing.databaseUrl, TRUSTGATE_REDIS_URL: backing.redisUrl, TRUSTGATE_REDIS_PREFIX: backing.redisPrefix,
          TRUSTGATE_NODE_ID: 'bench', TRUSTGATE_WORKERS: String(count),
        },
      });
      const peer = values['idle-peer']
        ? await startTrustgate('idle peer', join(work, `w${count}`), { startTimeoutMs: 90_000, env: {
          TRUSTGATE_DATABASE_URL: backing.databaseUrl, TRUSTGATE_REDIS_URL: backing.redisUrl, TRUSTGATE_REDIS_PREFIX: backing.redisPrefix, TRUSTGATE_NODE_ID: 'peer',
        } })
        : undefined;
      let pids = [server.pid];
      if (count > 1) {
        const deadline = Date.now() + 90_000;
        while ((pids = await workerPids(server.pid)).length < count) {
          if (Date.now() > deadline) throw new Error(`${count} workers did not start:\n${server.tail()}`);
          await sleep(200);
        }
        await sleep(2_000); // the last worker's HTTP listener
      }
      if (peer) pids = [...pids, peer.pid];
      for (const ca of pki.tenantCas) await server.registerVerifiedCa(TENANT, ca);
      const target = trustgateTarget(pki, server);
      const job = (slice: readonly AgentIdentity[]): Job => ({
        kind: 'connect', endpoint: target.endpoint, keyPem: pki.agentKeyPem, agents: slice, concurrency: CONCURRENCY, hold: false, timeoutMs: 10_000, budgetMs: 90_000,
      });
      await withPool(processes, async (pool) => {
        // First connects onboard the agents, the second pass warms every worker's JIT: not reported.
        for (let i = 0; i < 2; i++) await pass(pool, job, pki.agents, pids, backing.redisPid);
        for (let i = 0; i < passes; i++) {
          const f = await pass(pool, job, pki.agents, pids, backing.redisPid);
          const total = f.workerCpu.reduce((a, b) => a + b, 0);
          log(`workers=${count} pass ${i + 1}: ${round(f.perSecond, 1)} reconnects/s (${f.connects} in ${round(f.seconds, 2)} s, ${f.failures} failed, p99 ${round(f.p99Ms)} ms); `
            + `worker CPU ${round(total * 1000 / f.connects, 3)} ms/connect [${f.workerCpu.map((cpu) => round(cpu * 1000 / f.connects, 3)).join(' + ')}], `
            + `busy ${f.workerCpu.map((cpu) => `${Math.round(cpu / f.seconds * 100)} %`).join(' / ')}; redis ${round(f.redisCpu * 1000 / f.connects, 3)} ms/connect; `
            + `load ${round(f.loadCpuMs / f.connects, 3)} ms/connect; others on the machine ${round(f.otherCpu, 2)} CPU s`);
        }
      });
      await server.stop();
      await peer?.stop();
    } finally {
      await backing.remove();
    }
  }
} finally {
  killAllChildren();
  await rm(work, { recursive: true, force: true });
}
