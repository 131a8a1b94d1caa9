// The benchmark harness (issue 5): trustgate beside Debian's Mosquitto 2.0.11 on the same machine,
// in the same run, driven by the same multi-process load generator. `npm run bench [-- --quick]`.
// Prints a markdown table (stdout; progress goes to stderr) and writes bench/results/<timestamp>.json.
// Scenarios: 1 connect storm, 2 throughput, 3 trust index scale, 4 memory, 5 REST, 6 CPU limit,
// 7 cluster (two nodes on a local PostgreSQL + Redis vs one); only when named: 8 revoked serials,
// 9 reconnect storm with a refused agent, 10 first-connect storm, 11 concurrent REST writes.
// Loopback only; every loop is bounded in count and time, and no process outlives the run.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createBenchPki, mosquittoOptionsOf, TENANT, type BenchPki } from './lib/bench-pki.ts';
import { baselineTarget, mosquittoTarget, trustgateTarget, type Targets } from './lib/broker-target.ts';
import { startBaseline } from './lib/baseline-server.ts';
import { mosquittoVersion, startMosquitto } from './lib/mosquitto-server.ts';
import { parseParameters, USAGE, type Parameters } from './lib/parameters.ts';
import { killAllChildren, loadAverage, nowMs, openFileLimits, quietWaitedSeconds, removeOnExit, setQuietWait } from './lib/processes.ts';
import { buildReport, disturbedPasses, summaryLines, tlsNotes, type Results } from './lib/report.ts';
import { clusterNotes } from './lib/cluster-report.ts';
import { seedDataDir } from './lib/seed-data-dir.ts';
import { startTrustgate } from './lib/trustgate-server.ts';
import { runCluster } from './scenarios/cluster.ts';
import { runConnectStorm, type ConnectOptions } from './scenarios/connect-storm.ts';
import { runMemoryEach } from './scenarios/memory.ts';
import { runCpuLimit } from './scenarios/openssl-speed.ts';
import { runRest } from './scenarios/rest.ts';
import { runThroughput } from './scenarios/throughput.ts';
import { runTrustIndex } from './scenarios/trust-index.ts';
import { runRevokedSerials } from './scenarios/revoked-serials.ts';
import { runReconnectStorm } from './scenarios/reconnect-storm.ts';
import { runFirstConnectStorm } from './scenarios/first-connect-storm.ts';
import { runRestWrites } from './scenarios/rest-writes.ts';

const ROOT = join(import.meta.dirname, '..');
const runStarted = nowMs();
const log = (line: string): void => {
  process.stderr.write(`[bench ${((nowMs() - runStarted) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
};

let parameters: ReturnType<typeof parseParameters>;
try {
  parameters = parseParameters(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
  process.exit(64);
}
if (parameters.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

// 10,000 idle agents need 10,000 descriptors in the broker and a share in each load process, which
// inherit this process's limit. Node cannot raise it itself, so the run restarts once under a
// shell that raises the soft limit up to the hard one (brokers and workers inherit it).
const WANTED_FILES = 32_768;
const limits = openFileLimits();
if (limits.soft < WANTED_FILES && limits.hard > limits.soft && process.env.TRUSTGATE_BENCH_ULIMIT_RAISED === undefined) {
  const raised = Math.min(limits.hard, WANTED_FILES);
  const child = spawnSync('sh', ['-c', `ulimit -n ${raised} && exec "$0" "$@"`, process.execPath, ...process.execArgv, import.meta.filename, ...process.argv.slice(2)], {
    stdio: 'inherit', env: { ...process.env, TRUSTGATE_BENCH_ULIMIT_RAISED: String(raised) },
  });
  process.exit(child.status ?? 1);
}
const { outDir, help: _help, ...params } = parameters;
// Memory stages that would not fit the descriptors we have are dropped (and said so below).
const fileBudget = openFileLimits().soft - 500;
const p: Parameters = { ...params, memory: { ...params.memory, stages: params.memory.stages.filter((stage) => stage <= fileBudget) } };
const droppedStages = params.memory.stages.filter((stage) => stage > fileBudget);

setQuietWait(p.quietWaitSeconds, log);

// The whole run is bounded: past the limit every child is killed and the run fails.
const watchdog = setTimeout(() => {
  log(`time limit of ${p.timeLimitSeconds} s reached: stopping every process`);
  killAllChildren();
  process.exit(2);
}, p.timeLimitSeconds * 1000);

const quiet = (command: string, args: string[]): string => {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'], cwd: ROOT }).trim();
  } catch {
    return 'unknown';
  }
};

/** SHA-256 over what runs (src/ and bin/, path and content): tells apart runs of the same commit with different working trees. */
const sourceDigest = async (): Promise<string> => {
  const hash = createHash('sha256');
  for (const dir of ['src', 'bin']) {
    const files = (await readdir(join(ROOT, dir), { recursive: true, withFileTypes: true })).filter((f) => f.isFile())
      .map((f) => join(f.parentPath, f.name)).sort();
    for (const file of files) hash.update(file.slice(ROOT.length)).update('\0').update(await readFile(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
};

const packageJson = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const results: Results = {
  startedAt: new Date().toISOString(),
  mode: p.mode,
  machine: {
    cpuModel: cpus()[0]?.model, cores: cpus().length, memoryBytes: totalmem(), kernel: release(), platform: process.platform,
    loadAverageAtStart: loadAverage(),
  },
  versions: {
    node: process.version, nodeOpenssl: process.versions.openssl,
    trustgate: {
      version: packageJson.version,
      commit: quiet('git', ['rev-parse', '--short', 'HEAD']),
      // Read-only: --no-optional-locks keeps `git status` from refreshing the index.
      uncommittedChanges: quiet('git', ['--no-optional-locks', 'status', '--porcelain', '--', 'src', 'bin']).split('\n').filter(Boolean).length,
      sourceDigest: await sourceDigest(),
    },
    mosquitto: mosquittoVersion(),
    openssl: quiet('openssl', ['version']),
  },
  parameters: p,
  targets: [],
  scenarioSeconds: {},
  errors: [],
  notes: [],
};
if (droppedStages.length > 0) {
  results.notes.push(`memory at ${droppedStages.join(', ')} agents skipped: only ${openFileLimits().soft} open files allowed (ulimit -n); raise the hard limit to measure it`);
}

const work = await mkdtemp(join(tmpdir(), 'trustgate-bench-'));
removeOnExit(work);
const servers: { stop(): Promise<void> }[] = [];
const stopAll = async () => {
  for (const server of servers.splice(0).reverse()) await server.stop().catch(() => undefined);
};

const scenario = async <T>(id: number, name: string, run: () => Promise<T>): Promise<T | undefined> => {
  if (!p.scenarios.includes(id)) return undefined;
  log(`scenario ${id}: ${name}`);
  const started = nowMs();
  try {
    return await run();
  } catch (error) {
    const message = (error as Error).stack ?? String(error);
    results.errors.push({ scenario: id, message });
    log(`scenario ${id} failed: ${message}`);
    return undefined;
  } finally {
    results.scenarioSeconds[String(id)] = Number(((nowMs() - started) / 1000).toFixed(1));
  }
};

const connectOptions: ConnectOptions = {
  concurrencyPerWorker: p.connect.concurrencyPerWorker, timeoutMs: p.connect.timeoutMs, budgetMs: p.connect.budgetMs, ecdhCurve: p.ecdhCurve,
};

// --groups: the servers (trustgate, the baselines) are given the same groups as the load generator.
const serverGroups = p.ecdhCurve === undefined ? {} : { env: { TRUSTGATE_TLS_GROUPS: p.ecdhCurve } };

let exitCode = 0;
try {
  const agentCount = Math.max(p.connect.agents + p.connect.warmupAgents, p.throughput.fanInAgents, p.trustIndex.agents + p.connect.warmupAgents,
    p.scenarios.includes(8) ? p.revokedSerials.agents : 0, p.scenarios.includes(9) ? p.reconnectStorm.agents : 0,
    p.scenarios.includes(10) ? p.firstConnectStorm.messagingAgents + p.firstConnectStorm.newAgents + p.connect.warmupAgents : 0,
    p.scenarios.includes(4) ? Math.max(...p.memory.stages) : 0, p.scenarios.includes(7) ? p.cluster.fanInAgents : 0);
  const pkiStarted = nowMs();
  const pki: BenchPki = await createBenchPki(agentCount);
  log(`PKI: tenant CAs, ${agentCount.toLocaleString('en')} agent certificates, Mosquitto's server certificate in ${((nowMs() - pkiStarted) / 1000).toFixed(1)} s`);

  // 6 first, while nothing else runs.
  results.cpuLimit = await scenario(6, 'CPU limit (openssl speed)', runCpuLimit);

  if (p.scenarios.some((id) => id === 1 || id === 2 || id === 5)) {
    // The main pair: trustgate gets the tenant's 2 CAs through its REST API (the MindConnect path).
    const trustgate = await startTrustgate('trustgate', join(work, 'trustgate-main'), serverGroups);
    servers.push(trustgate);
    // The baselines (issue 18) serve trustgate's own certificate chain.
    const bareTls = await startBaseline('bare node:tls', 'bare-tls', trustgate.dataDir, p.ecdhCurve);
    servers.push(bareTls);
    const bareAedes = await startBaseline('bare aedes', 'bare-aedes', trustgate.dataDir, p.ecdhCurve);
    servers.push(bareAedes);
    for (const ca of pki.tenantCas) await trustgate.registerVerifiedCa(TENANT, ca);
    await mkdir(join(work, 'mosquitto-main'));
    const mosquitto = await startMosquitto('mosquitto', mosquittoOptionsOf(pki, join(work, 'mosquitto-main')));
    servers.push(mosquitto);
    const targets: Targets = {
      trustgate: trustgateTarget(pki, trustgate, await trustgate.token(TENANT, ['mcmqtt.read'])),
      mosquitto: mosquittoTarget(pki, mosquitto, trustgate.brokerRootCaPem),
      bareTls: baselineTarget(pki, bareTls, trustgate.brokerRootCaPem),
      bareAedes: baselineTarget(pki, bareAedes, trustgate.brokerRootCaPem),
    };
    log(`trustgate pid ${trustgate.pid} (MQTT ${trustgate.mqttPort}, HTTP ${trustgate.httpUrl}), mosquitto pid ${mosquitto.pid} (port ${mosquitto.port}), ` +
      `bare node:tls pid ${bareTls.pid} (port ${bareTls.port}), bare aedes pid ${bareAedes.pid} (port ${bareAedes.port})`);

    results.connectStorm = await scenario(1, 'connect storm', () => runConnectStorm(targets, pki.agents.slice(0, p.connect.agents),
      pki.agents.slice(p.connect.agents, p.connect.agents + p.connect.warmupAgents), pki.agentKeyPem, { ...connectOptions, processes: p.workers }, log));
    results.throughput = await scenario(2, 'throughput', () => runThroughput(targets, pki.agents, pki.agentKeyPem, p, log));
    results.rest = await scenario(5, 'REST', async () => {
      const figures = await runRest(trustgate, { concurrency: p.rest.concurrency, workers: p.workers, registrations: p.rest.registrations, listSeconds: p.rest.listSeconds, budgetMs: p.rest.budgetMs });
      log(`REST register: ${figures.register.requestsPerSecond} req/s, p99 ${figures.register.p99Ms} ms; list: ${figures.list.requestsPerSecond} req/s, p99 ${figures.list.p99Ms} ms`);
      return figures;
    });
    await stopAll();
  }

  results.trustIndex = await scenario(3, 'trust index scale', () => runTrustIndex(
    { ...connectOptions, tenants: p.trustIndex.tenants, rounds: p.trustIndex.rounds, seedProcesses: p.trustIndex.seedProcesses, processes: p.workers },
    { workDir: work, tenant: TENANT, tenantCas: pki.tenantCas, agents: pki.agents.slice(0, p.trustIndex.agents),
      warmupAgents: pki.agents.slice(p.trustIndex.agents, p.trustIndex.agents + p.connect.warmupAgents), agentKeyPem: pki.agentKeyPem, targetOf: (server) => trustgateTarget(pki, server), log },
  ));

  results.revokedSerials = await scenario(8, 'reconnects with revoked serials (a CRL) vs none', () => runRevokedSerials(
    { ...connectOptions, revoked: p.revokedSerials.revoked, rounds: p.revokedSerials.rounds, processes: p.workers },
    { workDir: work, tenant: TENANT, tenantCas: pki.tenantCas, agents: pki.agents.slice(0, p.revokedSerials.agents), agentKeyPem: pki.agentKeyPem,
      targetOf: (server) => trustgateTarget(pki, server), log },
  ));

  results.reconnectStorm = await scenario(9, 'reconnect storm: agents reconnecting as fast as they can, one refused in a loop', () => runReconnectStorm(
    { ...connectOptions, ...p.reconnectStorm, processes: p.workers },
    { workDir: work, tenant: TENANT, tenantCas: pki.tenantCas, agents: pki.agents, agentKeyPem: pki.agentKeyPem, targetOf: (server) => trustgateTarget(pki, server), log },
  ));

  results.firstConnectStorm = await scenario(10, 'first-connect storm beside messaging agents', () => {
    const f = p.firstConnectStorm;
    return runFirstConnectStorm(
      { ...connectOptions, ...f, budgetMs: f.budgetMs, processes: p.workers, payloadBytes: p.throughput.payloadBytes },
      { workDir: work, tenant: TENANT, tenantCas: pki.tenantCas, messagingAgents: pki.agents.slice(0, f.messagingAgents),
        newAgents: pki.agents.slice(f.messagingAgents, f.messagingAgents + f.newAgents),
        warmupAgents: pki.agents.slice(f.messagingAgents + f.newAgents, f.messagingAgents + f.newAgents + p.connect.warmupAgents),
        agentKeyPem: pki.agentKeyPem, targetOf: (server, token) => trustgateTarget(pki, server, token), log },
    );
  });

  results.restWrites = await scenario(11, 'concurrent REST writes beside readers', () => runRestWrites({ ...p.restWrites, workers: p.workers }, { workDir: work, log }));

  results.memory = await scenario(4, 'memory per idle agent', async () => {
    const options = { ...connectOptions, stages: p.memory.stages, warmupAgents: p.memory.warmupAgents, settleMs: p.memory.settleMs, processes: p.workers };
    const dataDir = join(work, 'trustgate-memory');
    await seedDataDir(dataDir, [{ tenant: TENANT, cas: pki.tenantCas }]);
    // trustgate first: it generates the certificate chain the baselines serve; each broker fresh.
    let rootPem = '';
    const baseline = (key: 'bareTls' | 'bareAedes', mode: 'bare-tls' | 'bare-aedes') => ({
      key, start: async () => {
        const server = await startBaseline(`${mode} (memory)`, mode, dataDir, p.ecdhCurve);
        return { target: baselineTarget(pki, server, rootPem), stop: () => server.stop() };
      },
    });
    return runMemoryEach([
      { key: 'trustgate', start: async () => {
        const server = await startTrustgate('trustgate (memory)', dataDir, serverGroups);
        rootPem = server.brokerRootCaPem;
        return { target: trustgateTarget(pki, server), stop: () => server.stop(),
          heapUsedMiB: async () => ((await server.metric('nodejs_heap_size_used_bytes')) ?? Number.NaN) / 1024 / 1024 };
      } },
      baseline('bareTls', 'bare-tls'), baseline('bareAedes', 'bare-aedes'),
      { key: 'mosquitto', start: async () => {
        await mkdir(join(work, 'mosquitto-memory'));
        const server = await startMosquitto('mosquitto (memory)', mosquittoOptionsOf(pki, join(work, 'mosquitto-memory')));
        return { target: mosquittoTarget(pki, server, rootPem), stop: () => server.stop() };
      } },
    ], pki.agents, pki.agentKeyPem, options, log);
  });

  results.cluster = await scenario(7, 'cluster (two nodes on PostgreSQL + Redis vs one)', () => runCluster(pki, p, work, log));
  if (results.cluster) {
    results.notes.push('Scenario 7: a client message crosses Redis only to the nodes with a matching subscription (route table, decision 0028): on one node none does, ' +
      'but QoS 1 queues, sessions and aedes\' $SYS traffic still live in Redis; "client messages through Redis" counts what a subscriber to their channels saw. ' +
      '"Across nodes" rows measure the cross-node path (the application on node 2); "local traffic" rows measure scale-out (an application and its agents on each node, ' +
      'the same clients all on node 1 for one node): they carry the target two nodes ≥ 1.9× one node. ' +
      '"One node, SQLite" is scenario 2\'s trustgate (embedded default, no Redis) at its own settings, when scenario 2 ran in the same sitting. ' +
      'redis-server is the machine\'s shared Redis: its CPU includes what its other clients asked of it meanwhile.');
    results.notes.push(...clusterNotes(results, cpus().length));
    if (results.cluster.redisPid === undefined) results.notes.push('Scenario 7: redis-server\'s pid was not found in /proc, so its CPU is not in the figures.');
  }
} catch (error) {
  results.errors.push({ scenario: 0, message: (error as Error).stack ?? String(error) });
  log(`run failed: ${(error as Error).stack}`);
} finally {
  await stopAll();
  killAllChildren();
  await rm(work, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
}

results.finishedAt = new Date().toISOString();
results.wallSeconds = Number(((nowMs() - runStarted) / 1000).toFixed(1));
results.quietWaitSeconds = quietWaitedSeconds();
(results.machine as Record<string, unknown>).loadAverageAtEnd = loadAverage();
if (results.connectStorm) results.notes.push(...tlsNotes(results.connectStorm, p.ecdhCurve));
const disturbed = disturbedPasses(results, cpus().length);
results.disturbed = disturbed;
if (disturbed.length > 0) {
  results.notes.push(`**disturbed**: other programs took over 10 % of the machine during ${disturbed.length} measurement(s): ${disturbed.slice(0, 4).join('; ')}${disturbed.length > 4 ? `; and ${disturbed.length - 4} more (see the JSON)` : ''}. Rerun on a quiet machine (or with --quiet-wait 120) before trusting them.`);
}
const { table, targets } = buildReport(results);
results.targets = targets;
results.table = table;

const machine = results.machine as { cpuModel: string; cores: number; memoryBytes: number };
const heading = `## trustgate ${packageJson.version} (${(results.versions.trustgate as { commit: string }).commit}) beside Mosquitto ${results.versions.mosquitto} — ${p.mode} run, ${results.startedAt}`;
const context = `${machine.cpuModel}, ${machine.cores} cores, ${(machine.memoryBytes / 2 ** 30).toFixed(0)} GiB; Node ${process.version} (OpenSSL ${process.versions.openssl}); ${results.versions.openssl}; ` +
  `brokers and load generator share the machine; loopback; ratio = trustgate ÷ Mosquitto${results.cluster ? ' (scenario 7: two nodes ÷ one node)' : ''}; ${results.wallSeconds} s wall` +
  `${results.quietWaitSeconds ? ` (${results.quietWaitSeconds} s of it waiting for other programs to go idle)` : ''}.`;
const output = [heading, '', context, '', table, '', ...summaryLines(results),
  ...(results.notes.length ? ['', ...results.notes.map((note) => `- ${note}`)] : []),
  ...(results.errors.length ? ['', `Errors in scenario(s) ${results.errors.map((e) => e.scenario).join(', ')}: see the JSON.`] : [])];
process.stdout.write(`${output.join('\n')}\n`);

const resultsDir = outDir ?? join(ROOT, 'bench', 'results');
await mkdir(resultsDir, { recursive: true });
const file = join(resultsDir, `${results.startedAt.replace(/[:.]/g, '-')}${p.mode === 'quick' ? '-quick' : ''}.json`);
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
log(`results written to ${file}`);
if (results.errors.length > 0) exitCode = 1;
clearTimeout(watchdog);
process.exitCode = exitCode;
