// Profiling only (issue 18 part 4): where an idle agent's memory goes, per broker.
//   node bench/memory-attribution.ts [agents=2000] [brokers=trustgate,bare-tls,bare-aedes] [--snapshots]
// Each broker (trustgate as bin/trustgate runs it, the bench's baselines) starts fresh with
// bench/lib/memory-probe-preload.ts; after a warm-up of 100 connects, `agents` idle agents connect
// and stay. Printed per agent: RSS and where it is (/proc/<pid>/smaps: glibc's brk heap, other
// anonymous memory, files), V8's heap in use and external memory, read 3 s after the last connect
// and again after a full GC (both against the same reading before the agents). With --snapshots,
// a V8 heap snapshot after each full GC (compare them with bench/heap-snapshot-diff.ts); writing
// one grows the brk heap, so RSS read after it is not comparable.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchPki, TENANT } from './lib/bench-pki.ts';
import { baselineTarget, trustgateTarget, type BrokerTarget } from './lib/broker-target.ts';
import { startBaseline } from './lib/baseline-server.ts';
import { killAllChildren, sampleProcess, sleep } from './lib/processes.ts';
import { seedDataDir } from './lib/seed-data-dir.ts';
import { startTrustgate } from './lib/trustgate-server.ts';
import { withPool } from './lib/worker-pool.ts';
import { connectPass, holdConnections } from './scenarios/connect-storm.ts';

const args = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const snapshots = process.argv.includes('--snapshots');
const agents = Number(args[0] ?? 2_000);
const brokers = (args[1] ?? 'trustgate,bare-tls,bare-aedes').split(',');
const options = { concurrencyPerWorker: 8, timeoutMs: 20_000, budgetMs: Math.max(60_000, agents * 30), ecdhCurve: undefined };
const work = await mkdtemp(join(tmpdir(), 'trustgate-memory-'));
const probeDir = join(work, 'probe');
const dataDir = join(work, 'data');
const preload = join(import.meta.dirname, 'lib', 'memory-probe-preload.ts');

interface Reading { rss: number; brk: number; anonymous: number; file: number; heapUsed: number; external: number; arrayBuffers: number; snapshot?: string }

const smaps = async (pid: number) => {
  const kinds = { brk: 0, anonymous: 0, file: 0 };
  let kind: keyof typeof kinds = 'anonymous';
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (mapping) {
      const name = mapping[2]!.trim();
      kind = name === '[heap]' ? 'brk' : mapping[1] !== '0' || name.startsWith('/') ? 'file' : 'anonymous';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kinds[kind] += Number(rss[1]);
  }
  return kinds;
};

const read = async (pid: number, what: string): Promise<Reading> => {
  const answer = join(probeDir, `res-${pid}.json`);
  rmSync(answer, { force: true });
  writeFileSync(join(probeDir, `req-${pid}`), what);
  for (let i = 0; i < 1_200 && !existsSync(answer); i += 1) await sleep(100);
  const probe = JSON.parse(readFileSync(answer, 'utf8')) as { memory: NodeJS.MemoryUsage; snapshot?: string };
  const kiB = (bytes: number) => bytes / 1024;
  return {
    rss: (await sampleProcess(pid)).rssKiB, ...await smaps(pid), heapUsed: kiB(probe.memory.heapUsed), external: kiB(probe.memory.external),
    arrayBuffers: kiB(probe.memory.arrayBuffers), ...(probe.snapshot ? { snapshot: probe.snapshot } : {}),
  };
};

const perAgent = (at: Reading, before: Reading, open: number) => Object.fromEntries(
  (['rss', 'brk', 'anonymous', 'file', 'heapUsed', 'external', 'arrayBuffers'] as const).map((key) => [key, Number(((at[key] - before[key]) / open).toFixed(1))]));

try {
  await mkdir(probeDir);
  const pki = await createBenchPki(agents + 100);
  await seedDataDir(dataDir, [{ tenant: TENANT, cas: pki.tenantCas }]);
  // The baselines serve trustgate's certificate chain: it generates it at its first start.
  if (brokers[0] !== 'trustgate') await (await startTrustgate('trustgate (keys)', dataDir)).stop();
  for (const broker of brokers) {
    // Only the broker gets the preload; the load processes forked later do not.
    process.env.NODE_OPTIONS = `--import ${preload} --expose-gc`;
    process.env.BENCH_MEMORY_PROBE_DIR = probeDir;
    const server = broker === 'trustgate' ? await startTrustgate('trustgate', dataDir) : await startBaseline(broker, broker as 'bare-tls' | 'bare-aedes', dataDir);
    delete process.env.NODE_OPTIONS;
    delete process.env.BENCH_MEMORY_PROBE_DIR;
    const target: BrokerTarget = 'apiUrl' in server
      ? trustgateTarget(pki, server)
      : baselineTarget(pki, server, readFileSync(join(dataDir, 'broker-root-ca.pem'), 'utf8'));
    try {
      await withPool(3, (pool) => connectPass(pool, target, pki.agents.slice(agents, agents + 100), pki.agentKeyPem, options));
      await sleep(3_000);
      const before = await read(server.pid, '');
      const beforeGc = await read(server.pid, snapshots ? 'gc snap' : 'gc');
      const hold = await holdConnections(target, pki.agents.slice(0, agents), pki.agentKeyPem, options, 3);
      try {
        await sleep(3_000);
        const open = await hold.open();
        const settled = await read(server.pid, '');
        const afterGc = await read(server.pid, snapshots ? 'gc snap' : 'gc');
        process.stdout.write(`${JSON.stringify({ broker, open, settled: perAgent(settled, before, open), afterFullGc: perAgent(afterGc, beforeGc, open),
          ...(snapshots ? { snapshots: [beforeGc.snapshot, afterGc.snapshot] } : {}) })}\n`);
      } finally {
        await hold.release();
      }
    } finally {
      await server.stop();
    }
  }
} finally {
  killAllChildren();
  if (!snapshots) await rm(work, { recursive: true, force: true });
}
