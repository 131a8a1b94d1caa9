// Broker figures until the benchmark harness lands: connects/s (new agents and reconnects), QoS 0/1
// messages/s one-to-one and fan-in, and RSS per idle connected agent, against a real `trustgate
// serve` child process, load from several worker processes. Loopback only; bounded in count and time.
// Usage: node bench/broker.ts [--agents 1000] [--workers 4] [--idle 3000] [--messages 20000]
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDevSigningKey, mintDevToken } from '../src/auth/index.ts';
import { createCa, issueCertificate, sharedTestKeyPair } from '../test/support/test-pki.ts';

const { values } = parseArgs({ options: {
  agents: { type: 'string', default: '1000' }, workers: { type: 'string', default: '4' },
  idle: { type: 'string', default: '3000' }, messages: { type: 'string', default: '20000' },
} });
const agentCount = Number(values.agents);
const workerCount = Number(values.workers);
const idleCount = Number(values.idle);
const messageCount = Number(values.messages);
const root = join(import.meta.dirname, '..');
const work = await mkdtemp(join(tmpdir(), 'trustgate-bench-broker-'));

const proc = async (pid: number) => {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return { cpuSeconds: (Number(stat[11]) + Number(stat[12])) / 100, rssKiB };
};

const server = spawn(join(root, 'bin/trustgate'), ['serve'], {
  env: { ...process.env, TRUSTGATE_DATA_DIR: join(work, 'data'), TRUSTGATE_HTTP_PORT: '0', TRUSTGATE_MQTT_PORT: '0', TRUSTGATE_HTTP_HOST: '127.0.0.1', TRUSTGATE_MQTT_HOST: '127.0.0.1', TRUSTGATE_LOG_LEVEL: 'info' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const ports = await new Promise<{ http: number; mqtt: number }>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('server did not start in 20 s')), 20_000);
  let buffer = '';
  let mqtt = 0;
  server.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('MQTT broker listening')) mqtt = JSON.parse(line).port;
      if (line.includes('trustgate HTTP API listening')) { clearTimeout(timer); resolve({ http: JSON.parse(line).port, mqtt }); }
    }
  });
});
// Keep draining the server's log so it never blocks on a full pipe; info logs every connect.
server.stdout!.resume();

const workers: ChildProcess[] = [];
try {
  const api = `http://127.0.0.1:${ports.http}/api/mindconnectmqtt/v3`;
  const key = (await loadDevSigningKey(join(work, 'data')))!;
  const token = await mintDevToken(key, { tenant: 'bench', scopes: ['mcmqtt.admin'], ttlSeconds: 3600 });
  const call = async (path: string, body?: unknown) => (await fetch(`${api}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })).json() as any;
  const ca = await createCa({ subject: 'CN=bench-ca' });
  const { id } = await call('/caCertificates', { name: 'bench', caCertificate: ca.certificatePem });
  const { registrationCode } = await call(`/caCertificates/${id}/registrationCode`);
  await call(`/caCertificates/${id}/verify`, { verificationCertificate: (await issueCertificate(ca, { subject: `CN=${registrationCode}` })).certificatePem });
  const brokerCa = await (await fetch(`http://127.0.0.1:${ports.http}/broker-ca.pem`)).text();

  // One key pair for all agents (key generation is not what is measured); distinct certificates.
  const keyPair = await sharedTestKeyPair('p256');
  const total = Math.max(agentCount, idleCount);
  const agents: { clientId: string; cert: string }[] = [];
  for (let i = 0; i < total; i++) {
    const cert = await issueCertificate(ca, { subject: `CN=agent-${i}`, keyPair });
    agents.push({ clientId: `bench_agent-${i}`, cert: cert.certificatePem });
  }
  const setup = join(work, 'setup.json');
  await writeFile(setup, JSON.stringify({ port: ports.mqtt, brokerCa, key: (await issueCertificate(ca, { keyPair })).privateKeyPem, agents, appPassword: token }));

  const runWorkers = async (mode: string, slices: number[][], extra: Record<string, unknown> = {}) => {
    const results = await Promise.all(slices.map((slice) => new Promise<any>((resolve, reject) => {
      const worker = fork(join(root, 'bench/broker-worker.ts'), [], { execArgv: ['--disable-warning=ExperimentalWarning'] });
      workers.push(worker);
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.send({ mode, setup, indexes: slice, ...extra });
    })));
    return results;
  };
  const split = (n: number, parts: number) => Array.from({ length: parts }, (_, w) => Array.from({ length: n }, (_, i) => i).filter((i) => i % parts === w));
  const pct = (all: number[], p: number) => all.sort((a, b) => a - b)[Math.min(all.length - 1, Math.floor(all.length * p))]?.toFixed(1);
  const rows: string[][] = [['scenario', 'count', 'rate /s', 'p50 ms', 'p99 ms', 'server CPU ms per unit']];

  for (const label of ['first connects (onboarding)', 'reconnects (known agents)']) {
    const before = await proc(server.pid!);
    const started = performance.now();
    const results = await runWorkers('connect', split(agentCount, workerCount), { concurrency: 25 });
    const seconds = (performance.now() - started) / 1000;
    const after = await proc(server.pid!);
    const latencies = results.flatMap((r) => r.latencies as number[]);
    const failures = results.reduce((sum, r) => sum + r.failures, 0);
    rows.push([`${label}${failures ? ` (${failures} failed)` : ''}`, String(latencies.length), (latencies.length / seconds).toFixed(0),
      pct(latencies, 0.5)!, pct(latencies, 0.99)!, ((after.cpuSeconds - before.cpuSeconds) * 1000 / latencies.length).toFixed(2)]);
  }

  for (const [label, publishers, qos] of [['QoS 0, 1 agent → 1 application', 1, 0], ['QoS 1, 1 agent → 1 application', 1, 1], ['QoS 1, 50 agents → 1 application', 50, 1]] as const) {
    const before = await proc(server.pid!);
    const [result] = await runWorkers('throughput', [Array.from({ length: publishers }, (_, i) => i)], { qos, messages: messageCount });
    const after = await proc(server.pid!);
    rows.push([label, String(result.received), (result.received / result.seconds).toFixed(0), pct(result.latencies, 0.5)!, pct(result.latencies, 0.99)!,
      ((after.cpuSeconds - before.cpuSeconds) * 1000 / result.received).toFixed(3)]);
  }

  const idleBefore = await proc(server.pid!);
  await runWorkers('hold', split(idleCount, workerCount), { concurrency: 50 });
  await new Promise((r) => setTimeout(r, 3000));
  const idleAfter = await proc(server.pid!);
  console.log(`node ${process.version}; ${workerCount} worker processes; loopback; 2-core machine shared by server and load`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log(`RSS: ${(idleBefore.rssKiB / 1024).toFixed(1)} MiB before, ${(idleAfter.rssKiB / 1024).toFixed(1)} MiB with ${idleCount} idle agents → ${((idleAfter.rssKiB - idleBefore.rssKiB) / idleCount).toFixed(1)} KiB per idle agent`);
} finally {
  for (const worker of workers) worker.kill('SIGKILL');
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await rm(work, { recursive: true, force: true });
}
