import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError } from '../config/index.ts';
import { listenOrExplain, type Listener } from './listen-error.ts';

// `trustgate serve --workers N` (decision 0031): this process only supervises. Each worker is a
// whole trustgate node (`serve --worker <i>`, its own TRUSTGATE_NODE_ID `<id>-w<i>`) that listens
// on the same MQTT and HTTP ports with SO_REUSEPORT, so the kernel spreads new connections over
// them; between workers everything goes through Redis and PostgreSQL as between hosts.

/** What a worker tells its supervisor over the IPC channel once both listeners are open. */
export interface WorkerReady {
  readonly type: 'trustgate.workerReady';
  readonly httpPort: number;
  readonly mqttPort: number;
}

export const isWorkerReady = (message: unknown): message is WorkerReady =>
  typeof message === 'object' && message !== null && (message as WorkerReady).type === 'trustgate.workerReady';

/** A worker could not start (or kept failing to): its own line on stderr says why. */
export class WorkerStartError extends Error {
  override name = 'WorkerStartError';
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface SuperviseWorkersOptions {
  readonly count: number;
  /** The workers' node ids are `<baseNodeId>-w<i>`. */
  readonly baseNodeId: string;
  readonly mqtt: { readonly host: string; readonly port: number };
  readonly http: { readonly host: string; readonly port: number };
  /** The CLI entry to fork and its arguments for worker `index` (`serve --worker <index>`). */
  readonly entry: string;
  readonly args: (index: number) => readonly string[];
  /** Node's options for the workers; default this process's (bin/trustgate's). */
  readonly execArgv?: readonly string[];
  readonly logger: Logger;
  readonly platform?: NodeJS.Platform;
  /** First pause before restarting a worker that died; doubled per consecutive failure, at most 30 s. */
  readonly restartDelayMs?: number;
}

export interface RunningWorkers {
  /** Resolves with the exit code for the supervisor once every worker has exited: 0 after stop()
   *  when all drained cleanly, non-zero when a worker kept failing to start. */
  readonly finished: Promise<number>;
  /** SIGTERM to every worker (each keeps TRUSTGATE_SHUTDOWN_DELAY_MS and drains); no restarts from now on. */
  stop(): void;
  /** SIGKILL to every worker: the second Ctrl-C. */
  kill(): void;
  /** The pids of the running workers, by index (for tests and the bench). */
  pids(): readonly (number | undefined)[];
}

/** Consecutive failed starts of one worker after which the supervisor gives up and stops them all. */
export const MAX_FAILED_STARTS = 5;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that served this long has "started well": its next death restarts at the first delay again. */
const HEALTHY_AFTER_MS = 30_000;
// Linux spreads connections over SO_REUSEPORT sockets (since 3.9). FreeBSD's SO_REUSEPORT does
// not balance (its SO_REUSEPORT_LB does, which Node does not set), macOS and Windows neither: there
// the last worker to bind would take every connection. Refused rather than silently unbalanced.
const BALANCING_PLATFORMS: readonly NodeJS.Platform[] = ['linux'];

/** A port someone else holds (also another `--workers` group of the same user, which SO_REUSEPORT
 *  would let us join silently) must stop the start: bind it once without SO_REUSEPORT. */
const probeFree = async (listener: Listener): Promise<void> => {
  if (listener.port === 0) return;
  const server = createServer();
  await listenOrExplain(listener, () => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listener.host, port: listener.port, exclusive: true }, () => resolve());
  }));
  await new Promise<void>((resolve) => server.close(() => resolve()));
};

export const superviseWorkers = async (options: SuperviseWorkersOptions): Promise<RunningWorkers> => {
  const { count, logger, restartDelayMs = 500 } = options;
  const platform = options.platform ?? process.platform;
  if (!BALANCING_PLATFORMS.includes(platform)) {
    throw new ConfigError(`TRUSTGATE_WORKERS=${count} needs Linux: only its SO_REUSEPORT spreads connections over the workers (this is ${platform}). Run one process (TRUSTGATE_WORKERS=1) per machine, several machines as a cluster behind a load balancer`);
  }
  const log = logger.child({ component: 'supervisor' });
  await probeFree({ what: 'the MQTT broker', hostVariable: 'TRUSTGATE_MQTT_HOST', portVariable: 'TRUSTGATE_MQTT_PORT', ...options.mqtt });
  await probeFree({ what: 'the REST API', hostVariable: 'TRUSTGATE_HTTP_HOST', portVariable: 'TRUSTGATE_HTTP_PORT', ...options.http });

  const children: (ChildProcess | undefined)[] = new Array(count).fill(undefined);
  const failedStarts = new Map<number, number>();
  const restartTimers = new Set<NodeJS.Timeout>();
  // Port 0 means "any": worker 0 picks, the others (and every restart) take the same.
  const ports = { mqtt: options.mqtt.port, http: options.http.port };
  let stopping = false;
  /** Every worker was ready once: from now on a dead worker is restarted. */
  let started = false;
  let gaveUp: number | undefined;
  let resolveFinished!: (code: number) => void;
  const finished = new Promise<number>((resolve) => { resolveFinished = resolve; });
  let cleanExits = true;

  const settleIfAllGone = () => {
    if ((stopping || gaveUp !== undefined) && children.every((child) => child === undefined) && restartTimers.size === 0) {
      resolveFinished(gaveUp ?? (cleanExits ? 0 : 70));
    }
  };

  const stopAll = (signal: NodeJS.Signals) => {
    for (const timer of restartTimers) clearTimeout(timer);
    restartTimers.clear();
    for (const child of children) child?.kill(signal);
    settleIfAllGone();
  };

  /** Starts worker `index`; resolves when it is ready, rejects with its exit code if it exits first. */
  const startWorker = (index: number): Promise<void> => new Promise((resolve, reject) => {
    const nodeId = `${options.baseNodeId}-w${index}`;
    const child = fork(options.entry, [...options.args(index)], {
      // TRUSTGATE_WORKERS=1: a worker is one node (and its longer node id is checked as one).
      env: { ...process.env, TRUSTGATE_WORKERS: '1', TRUSTGATE_NODE_ID: nodeId, TRUSTGATE_MQTT_PORT: String(ports.mqtt), TRUSTGATE_HTTP_PORT: String(ports.http) },
      execArgv: [...(options.execArgv ?? process.execArgv)],
      // Its own process group: a Ctrl-C in the terminal reaches the supervisor only, which sends
      // one SIGTERM (a second signal would make the worker exit at once, without its drain).
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children[index] = child;
    let ready = false;
    let readyAt = 0;
    child.on('message', (message) => {
      if (ready || !isWorkerReady(message)) return;
      ready = true;
      readyAt = performance.now();
      ports.mqtt = message.mqttPort;
      ports.http = message.httpPort;
      resolve();
    });
    child.once('exit', (code, signal) => {
      children[index] = undefined;
      if (stopping) {
        if (code !== 0) cleanExits = false;
        log.info({ worker: index, nodeId, code, signal }, 'worker exited');
        settleIfAllGone();
        return;
      }
      const exitCode = code ?? 70;
      const failures = (failedStarts.get(index) ?? 0) + 1;
      if (!ready) {
        failedStarts.set(index, failures);
        reject(new WorkerStartError(`worker ${index} (${nodeId}) exited with code ${code ?? signal} before it listened; its reason is the line above`, exitCode));
      } else if (performance.now() - readyAt >= HEALTHY_AFTER_MS) {
        failedStarts.set(index, 0);
      } else {
        failedStarts.set(index, failures);
      }
      const failed = failedStarts.get(index) ?? 0;
      if (gaveUp !== undefined) return settleIfAllGone();
      if (failed >= MAX_FAILED_STARTS) {
        log.error({ worker: index, nodeId, code, signal, failedStarts: failed }, 'a worker keeps failing: stopping every worker');
        gaveUp = exitCode === 0 ? 70 : exitCode;
        stopAll('SIGTERM');
        return;
      }
      if (!ready && !started) return; // the first start: the caller gives up at once
      const delayMs = Math.min(MAX_RESTART_DELAY_MS, restartDelayMs * 2 ** Math.max(0, failed - 1));
      log.warn({ worker: index, nodeId, code, signal, restartInMs: delayMs }, 'worker died: restarting it');
      const timer = setTimeout(() => {
        restartTimers.delete(timer);
        if (stopping || gaveUp !== undefined) return settleIfAllGone();
        startWorker(index).then(
          () => log.info({ worker: index, nodeId, pid: children[index]?.pid }, 'worker restarted'),
          () => undefined, // its exit handler above decides: another restart, or give up
        );
      }, delayMs);
      restartTimers.add(timer);
    });
    // The IPC channel of a dead worker errors on send; nothing is sent, but never let it throw.
    child.on('error', (error) => log.error({ worker: index, err: error }, 'worker process error'));
  });

  try {
    // Worker 0 first and alone: on a fresh data dir it creates the keys and the broker's
    // certificate that the others then read, and it settles a port 0.
    await startWorker(0);
    await Promise.all(Array.from({ length: count - 1 }, (_, i) => startWorker(i + 1)));
  } catch (error) {
    stopping = true;
    stopAll('SIGTERM');
    await finished;
    throw error;
  }
  started = true;
  log.info({ workers: count, pids: children.map((child) => child?.pid), mqttPort: ports.mqtt, httpPort: ports.http }, 'trustgate workers serving');
  return {
    finished,
    stop() {
      if (stopping) return;
      stopping = true;
      log.info({ workers: count }, 'stopping every worker (SIGTERM: each drains as a single node would)');
      stopAll('SIGTERM');
    },
    kill() {
      stopping = true;
      stopAll('SIGKILL');
    },
    pids: () => children.map((child) => child?.pid),
  };
};
