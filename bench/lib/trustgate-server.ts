import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadDevSigningKey, mintDevToken } from '../../src/auth/index.ts';
import { mintVerificationCertificate, generateP256Key, type MintedCertificate } from './fast-certificates.ts';
import { nowMs, track } from './processes.ts';
import { restCall } from './rest-call.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const HTTP_LISTENING = 'trustgate HTTP API listening';
const MQTT_LISTENING = 'trustgate MQTT broker listening (mutual TLS)';

export interface TrustgateServer {
  readonly name: string;
  readonly pid: number;
  readonly dataDir: string;
  readonly httpUrl: string;
  readonly apiUrl: string;
  readonly mqttPort: number;
  readonly brokerRootCaPem: string;
  readonly startSeconds: number;
  /** CA certificates in the trust index at start (its log line). */
  readonly trustIndexSize: number;
  token(tenant: string, scopes?: string[]): Promise<string>;
  /** Upload, registration code, proof of possession, verify: the MindConnect path, over HTTP. */
  registerVerifiedCa(tenant: string, ca: MintedCertificate): Promise<string>;
  /** A Prometheus sample from /metrics, e.g. nodejs_heap_size_used_bytes. */
  metric(name: string): Promise<number | undefined>;
  /**
   * The event loop's delay since the last /metrics read (prom-client resets its histogram on each
   * read): read once before a phase and once after, the second is the phase's. How long the loop
   * was blocked, e.g. by a synchronous SQLite commit and its fsync, which CPU time does not show.
   */
  eventLoopDelay(): Promise<{ readonly p99Ms: number; readonly maxMs: number }>;
  /** The last log lines, for error messages. */
  tail(): string;
  stop(): Promise<void>;
}

// `bin/trustgate serve` as an operator runs it: the embedded default (SQLite in a data dir,
// generated keys), ports 0 read back from its JSON log, log level info (a line per connection,
// drained here as a terminal would). bin/trustgate execs node, so the pid is the server's.
// `env` adds or overrides settings (e.g. a cluster node's TRUSTGATE_DATABASE_URL, TRUSTGATE_REDIS_URL,
// TRUSTGATE_NODE_ID); the data dir, the ports and the log level stay the harness's.
export const startTrustgate = async (name: string, dataDir: string, options: { startTimeoutMs?: number; env?: Readonly<Record<string, string>> } = {}): Promise<TrustgateServer> => {
  const started = nowMs();
  // BENCH_PROFILE_DIR=<dir>: the same server under `node --cpu-prof` (bin/trustgate's settings,
  // node run directly), one .cpuprofile per server written when it stops.
  const profileDir = process.env.BENCH_PROFILE_DIR;
  const [command, args] = profileDir
    ? [join(ROOT, 'node_modules', 'node', 'bin', 'node'), ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--disable-warning=ExperimentalWarning', join(ROOT, 'src', 'cli', 'main.ts'), 'serve']]
    : [join(ROOT, 'bin', 'trustgate'), ['serve']];
  const child: ChildProcess = track(spawn(command, args, {
    cwd: ROOT,
    env: {
      MALLOC_MMAP_THRESHOLD_: '65536',
      // The benchmark measures the broker, not its limits (the reconnect-storm scenario sets its own).
      TRUSTGATE_RATE_LIMITS: 'off',
      // One streaming agent publishes tens of thousands of messages a second (Mosquitto has no such
      // cap): the per-agent publish cap (docs/limits.md) is lifted out of its way.
      TRUSTGATE_MQTT_MAX_PUBLISHES_PER_SECOND_PER_AGENT: '1000000', TRUSTGATE_MQTT_PUBLISH_BURST_PER_AGENT: '10000000',
      ...process.env,
      ...options.env,
      TRUSTGATE_DATA_DIR: dataDir, TRUSTGATE_HTTP_HOST: '127.0.0.1', TRUSTGATE_HTTP_PORT: '0',
      TRUSTGATE_MQTT_HOST: '127.0.0.1', TRUSTGATE_MQTT_PORT: '0', TRUSTGATE_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const tail: string[] = [];
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > 30) tail.shift();
  };
  let rest = '';
  let mqttPort = 0;
  let trustIndexSize = 0;
  const httpPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: trustgate did not listen within ${options.startTimeoutMs ?? 30_000} ms:\n${tail.join('\n')}`)), options.startTimeoutMs ?? 30_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name}: trustgate exited (${code ?? signal}) before listening:\n${tail.join('\n')}`));
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => chunk.split('\n').filter(Boolean).forEach(remember));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        remember(line);
        if (line.includes(MQTT_LISTENING)) mqttPort = JSON.parse(line).port;
        else if (line.includes('trust index loaded')) trustIndexSize = JSON.parse(line).caCertificates;
        else if (line.includes(HTTP_LISTENING)) {
          clearTimeout(timer);
          resolve(JSON.parse(line).port);
        }
      }
    });
  });
  const startSeconds = (nowMs() - started) / 1000;
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const apiUrl = `${httpUrl}/api/mindconnectmqtt/v3`;
  const brokerRootCaPem = await (await fetch(`${httpUrl}/broker-ca.pem`, { signal: AbortSignal.timeout(10_000) })).text();
  const signingKey = await loadDevSigningKey(dataDir);
  if (!signingKey) throw new Error(`${name}: no dev signing key in ${dataDir}`);

  const call = (token: string, path: string, body?: unknown): Promise<any> => restCall(apiUrl, token, path, body)
    .catch((error: Error) => { throw new Error(`${name}: ${path} answered ${error.message}`); });
  const token = (tenant: string, scopes = ['mcmqtt.admin']) => mintDevToken(signingKey, { tenant, scopes: scopes as never, ttlSeconds: 3_600 });

  return {
    name, pid: child.pid!, dataDir, httpUrl, apiUrl, mqttPort, brokerRootCaPem, startSeconds, trustIndexSize, token,
    registerVerifiedCa: async (tenant, ca) => {
      const admin = await token(tenant);
      const created = await call(admin, '/caCertificates', { name: 'bench CA', caCertificate: ca.pem });
      const { registrationCode } = await call(admin, `/caCertificates/${created.id}/registrationCode`);
      const proof = mintVerificationCertificate(ca, registrationCode, generateP256Key());
      const verified = await call(admin, `/caCertificates/${created.id}/verify`, { verificationCertificate: proof.pem });
      if (!verified.isVerified) throw new Error(`${name}: CA of ${tenant} not verified`);
      return created.id as string;
    },
    metric: async (metricName) => {
      const text = await (await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      const match = new RegExp(`^${metricName}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
      return match ? Number(match[1]) : undefined;
    },
    eventLoopDelay: async () => {
      const text = await (await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      const ms = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1]) * 1000;
      return { p99Ms: ms('nodejs_eventloop_lag_p99_seconds'), maxMs: ms('nodejs_eventloop_lag_max_seconds') };
    },
    tail: () => tail.join('\n'),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
};
