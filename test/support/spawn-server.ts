import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The real CLI (`bin/trustgate serve`) as a child process on 127.0.0.1 and a free port: what an
// operator runs, including the shell launcher, the JSON log and signal handling. For in-process
// tests use start-test-server.ts instead.

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TRUSTGATE_BIN = join(REPO_ROOT, 'bin', 'trustgate');
export const LISTENING_MESSAGE = 'trustgate HTTP API listening';

export interface SpawnServerOptions {
  readonly dataDir: string;
  /** Extra environment, applied over process.env and the defaults below (PATH too). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for the "listening" log line; default 60 s. Only matters when the server
   *  never starts: with both cores busy, a start takes over 10 s. */
  readonly startTimeoutMs?: number;
  /** A node:test context (or anything with `after`): the child is killed when it ends. */
  readonly t?: { after(fn: () => unknown): void };
}

export interface SpawnedServer {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** url + /api/mindconnectmqtt/v3 */
  readonly apiUrl: string;
  readonly port: number;
  /** The MQTT broker's port (logged before the HTTP API's). */
  readonly mqttPort: number;
  readonly dataDir: string;
  readonly process: ChildProcess;
  /** Sends `signal` and resolves with the exit code (null if a signal ended it). If the child has
   *  not exited within `timeoutMs` (default 10 s) it is SIGKILLed and the promise rejects. */
  stop(signal?: NodeJS.Signals, options?: { timeoutMs?: number }): Promise<number | null>;
  /** SIGKILL, resolved once the child is gone. */
  kill9(): Promise<void>;
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string;
  /** The parsed JSON log lines of stdout so far (non-JSON lines are left out). */
  logLines(): Record<string, unknown>[];
}

export const MQTT_LISTENING_MESSAGE = 'trustgate MQTT broker listening (mutual TLS)';

const live = new Set<ChildProcess>();

const isRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

// Last resort: a test process that exits (normally or by an uncaught error) takes its servers along.
process.on('exit', () => {
  for (const child of live) {
    if (isRunning(child)) child.kill('SIGKILL');
  }
});

const exited = (child: ChildProcess): Promise<void> => new Promise((resolveExit) => {
  if (!isRunning(child)) return resolveExit();
  child.once('exit', () => resolveExit());
});

/** SIGKILLs every server spawned by this process that is still running. For `after()` hooks. */
export const killAllSpawnedServers = async (): Promise<void> => {
  const running = [...live].filter(isRunning);
  for (const child of running) child.kill('SIGKILL');
  await Promise.all(running.map(exited));
};

export const spawnServer = async ({ dataDir, env = {}, startTimeoutMs = 60_000, t }: SpawnServerOptions): Promise<SpawnedServer> => {
  const child = spawn(TRUSTGATE_BIN, ['serve'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      TRUSTGATE_LOG_LEVEL: 'info',
      TRUSTGATE_MQTT_PORT: '0',
      TRUSTGATE_MQTT_HOST: '127.0.0.1',
      // Tests that are not about limits run without them (a test about them passes its own).
      TRUSTGATE_RATE_LIMITS: 'off',
      ...env,
      TRUSTGATE_DATA_DIR: dataDir,
      TRUSTGATE_HTTP_PORT: '0',
      TRUSTGATE_HTTP_HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  t?.after(async () => {
    if (isRunning(child)) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });

  let output = '';
  let stdoutRest = '';
  const logLines: Record<string, unknown>[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });

  const port = await new Promise<number>((resolvePort, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      if (isRunning(child)) child.kill('SIGKILL');
      reject(new Error(`trustgate serve ${why}. Output so far:\n${output}`));
    };
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(`exited (code ${code}, signal ${signal}) before listening`);
    const timer = setTimeout(() => fail(`did not log "${LISTENING_MESSAGE}" within ${startTimeoutMs} ms`), startTimeoutMs);
    child.once('error', (error) => fail(`could not be spawned (${error.message})`));
    child.once('exit', onEarlyExit);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      stdoutRest += chunk;
      const lines = stdoutRest.split('\n');
      stdoutRest = lines.pop() ?? '';
      for (const line of lines) {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        logLines.push(entry);
        if (!settled && entry.msg === LISTENING_MESSAGE && typeof entry.port === 'number') {
          settled = true;
          clearTimeout(timer);
          child.off('exit', onEarlyExit);
          resolvePort(entry.port);
        }
      }
    });
  });

  const url = `http://127.0.0.1:${port}`;
  const mqttPort = logLines.find((entry) => entry.msg === MQTT_LISTENING_MESSAGE)?.port;
  if (typeof mqttPort !== 'number') throw new Error(`trustgate serve did not log "${MQTT_LISTENING_MESSAGE}" before the HTTP API`);
  return {
    url,
    apiUrl: `${url}/api/mindconnectmqtt/v3`,
    port,
    mqttPort,
    dataDir,
    process: child,
    output: () => output,
    logLines: () => [...logLines],
    async stop(signal = 'SIGTERM', { timeoutMs = 10_000 } = {}) {
      if (isRunning(child)) {
        child.kill(signal);
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          exited(child).then(() => false),
          new Promise<boolean>((resolveTimeout) => { timer = setTimeout(() => resolveTimeout(true), timeoutMs); }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          child.kill('SIGKILL');
          await exited(child);
          throw new Error(`trustgate serve did not exit within ${timeoutMs} ms of ${signal}; killed. Output:\n${output}`);
        }
      }
      return child.exitCode;
    },
    async kill9() {
      if (isRunning(child)) child.kill('SIGKILL');
      await exited(child);
    },
  };
};

/** One API call with a Bearer token against a server's API base URL: GET, or POST with a JSON body. */
export const callApi = async (apiUrl: string, token: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<{ status: number; body: any }> => {
  const response = await fetch(`${apiUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
};
