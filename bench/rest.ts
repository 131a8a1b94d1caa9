// REST figures until the benchmark harness lands: upload+verify and GET /caCertificates rate and
// latency against a real `trustgate serve` child process, at a fixed concurrency, loopback only,
// bounded in count and time. Usage: node bench/rest.ts [--concurrency 50] [--tenants 400] [--seconds 10]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDevSigningKey, mintDevToken } from '../src/auth/index.ts';
import { createCa, issueCertificate, type TestCertificate } from '../test/support/test-pki.ts';

const { values } = parseArgs({ options: {
  concurrency: { type: 'string', default: '50' }, tenants: { type: 'string', default: '400' }, seconds: { type: 'string', default: '10' },
} });
const concurrency = Number(values.concurrency);
const tenantCount = Number(values.tenants);
const seconds = Number(values.seconds);
const root = join(import.meta.dirname, '..');

const rssKiB = async (pid: number): Promise<number> =>
  Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
const cpuSeconds = async (pid: number): Promise<number> => {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

const dataDir = await mkdtemp(join(tmpdir(), 'trustgate-bench-'));
const server = spawn(join(root, 'bin/trustgate'), ['serve'], {
  env: { ...process.env, TRUSTGATE_DATA_DIR: dataDir, TRUSTGATE_HTTP_PORT: '0', TRUSTGATE_HTTP_HOST: '127.0.0.1', TRUSTGATE_MQTT_PORT: '0' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise<number>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('server did not start in 15 s')), 15_000);
  let buffer = '';
  server.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const match = /"port":(\d+)[^\n]*trustgate HTTP API listening/.exec(buffer);
    if (match) { clearTimeout(timer); resolve(Number(match[1])); }
  });
});
server.stdout!.resume();
const base = `http://127.0.0.1:${port}/api/mindconnectmqtt/v3`;
const pid = server.pid!;

try {
  await new Promise((r) => setTimeout(r, 1000));
  const rssAtStart = await rssKiB(pid);
  const key = (await loadDevSigningKey(dataDir))!;
  const tenants = Array.from({ length: tenantCount }, (_, i) => `bench-${i}`);
  const tokens = await Promise.all(tenants.map((tenant) => mintDevToken(key, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: 3600 })));
  const cas: TestCertificate[] = [];
  for (let i = 0; i < tenantCount; i++) cas.push(await createCa({ subject: `CN=bench-ca-${i}` }));

  const call = async (token: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json() as any;
    if (!response.ok) throw new Error(`${response.status} ${JSON.stringify(json)}`);
    return json;
  };

  // Scenario 1: upload + registration code + verify, one tenant per CA (limit is 2 per tenant).
  const requestLatencies: number[] = [];
  const timed = async <T>(work: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try { return await work(); } finally { requestLatencies.push(performance.now() - start); }
  };
  let next = 0;
  const cpuBefore1 = await cpuSeconds(pid);
  const start1 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < tenantCount) {
      const i = next++;
      const token = tokens[i]!;
      const ca = cas[i]!;
      const created = await timed(() => call(token, '/caCertificates', { name: `ca ${i}`, caCertificate: ca.certificatePem }));
      const { registrationCode } = await timed(() => call(token, `/caCertificates/${created.id}/registrationCode`));
      const proof = await issueCertificate(ca, { subject: `CN=${registrationCode}`, version: 1 });
      const verified = await timed(() => call(token, `/caCertificates/${created.id}/verify`, { verificationCertificate: proof.certificatePem }));
      if (!verified.isVerified) throw new Error('not verified');
    }
  }));
  const elapsed1 = (performance.now() - start1) / 1000;
  const cpu1 = (await cpuSeconds(pid)) - cpuBefore1;
  requestLatencies.sort((a, b) => a - b);

  // Scenario 2: GET /caCertificates for `seconds` seconds.
  const listLatencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const cpuBefore2 = await cpuSeconds(pid);
  const start2 = performance.now();
  let n = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const token = tokens[n++ % tenantCount]!;
      const t = performance.now();
      const list = await call(token, '/caCertificates');
      listLatencies.push(performance.now() - t);
      if (list.length !== 1) throw new Error('unexpected list');
    }
  }));
  const elapsed2 = (performance.now() - start2) / 1000;
  const cpu2 = (await cpuSeconds(pid)) - cpuBefore2;
  listLatencies.sort((a, b) => a - b);
  await new Promise((r) => setTimeout(r, 2000));
  const rssAfter = await rssKiB(pid);

  const rows = [
    ['scenario', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'server CPU s'],
    [`upload+code+verify (${tenantCount} CAs)`, String(requestLatencies.length), (requestLatencies.length / elapsed1).toFixed(0),
      percentile(requestLatencies, 0.5).toFixed(1), percentile(requestLatencies, 0.99).toFixed(1), cpu1.toFixed(2)],
    [`  = CA registrations/s`, String(tenantCount), (tenantCount / elapsed1).toFixed(0), '', '', ''],
    [`GET /caCertificates (${seconds} s)`, String(listLatencies.length), (listLatencies.length / elapsed2).toFixed(0),
      percentile(listLatencies, 0.5).toFixed(1), percentile(listLatencies, 0.99).toFixed(1), cpu2.toFixed(2)],
  ];
  console.log(`concurrency ${concurrency}, node ${process.version}, loopback, load generator in the same 2-core machine`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log(`RSS at rest: ${(rssAtStart / 1024).toFixed(1)} MiB after start, ${(rssAfter / 1024).toFixed(1)} MiB after the runs`);
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await rm(dataDir, { recursive: true, force: true });
}
