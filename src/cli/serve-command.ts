import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ListenFailure } from '../app/index.ts';
import { configSchema, loadConfig, type Setting } from '../config/index.ts';
import { CliError, EXIT } from './cli-error.ts';

// sysexits.h: EX_TEMPFAIL for a port another program holds (try again, or another port),
// EX_NOPERM for a privileged port, EX_CONFIG for an address this machine does not have.
const LISTEN_EXIT: Readonly<Record<ListenFailure, number>> = { inUse: EXIT.conflict, noPermission: EXIT.noPermission, noAddress: EXIT.config };

const shownDefault = (value: unknown): string => (value === undefined ? 'unset' : Array.isArray(value) ? value.join(',') : String(value));

/** Every setting's variable and default, from the config schema (what docs/config.md explains). */
export const settingsHelp = (): string => {
  const settings = Object.values(configSchema).flatMap((group) => Object.values(group as Record<string, Setting<unknown>>));
  const width = Math.max(...settings.map((setting) => setting.env.length));
  return [
    '',
    'Settings are environment variables, all optional; what each means: docs/config.md.',
    `  ${'variable'.padEnd(width)}  default`,
    ...settings.map((setting) => `  ${setting.env.padEnd(width)}  ${shownDefault(setting.default)}`),
  ].join('\n');
};

/** Resolves on the first SIGINT/SIGTERM (or `also`); a second signal runs `now`. */
const firstSignal = (logger: { info(object: object, message: string): void }, now: () => void, also?: (stop: () => void) => void): Promise<void> =>
  new Promise<void>((resolve) => {
    let stopped = false;
    const stop = (signal?: NodeJS.Signals) => {
      if (stopped) return;
      stopped = true;
      logger.info({ signal: signal ?? 'supervisor gone', hint: 'send the signal again to exit at once' }, 'shutting down');
      process.once('SIGINT', now);
      process.once('SIGTERM', now);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    also?.(() => stop());
  });

const parseWorkers = (raw: string): string => {
  try {
    configSchema.cluster.workers.parse(raw);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  return raw.trim();
};

// `trustgate serve`: run until SIGINT/SIGTERM, then close in order. With --workers N (or
// TRUSTGATE_WORKERS) this process supervises N workers, each a `serve --worker <i>` (decision 0031).
export const registerServeCommand = (program: Command): void => {
  program.command('serve')
    .description('start the REST API on the embedded default (SQLite and generated keys in TRUSTGATE_DATA_DIR)')
    .option('--workers <count>', 'broker processes on this machine, all on the same ports (Linux), each a cluster node: needs TRUSTGATE_REDIS_URL and PostgreSQL (default: TRUSTGATE_WORKERS, else 1)', parseWorkers)
    // Set by the supervisor for the processes it forks; not for people.
    .addOption(new Option('--worker <index>').hideHelp())
    .addHelpText('after', settingsHelp)
    .action(async (options: { workers?: string; worker?: string }) => {
      // Loaded here, not at the top: the server's modules (Fastify, aedes, Kysely) would slow every other command down.
      const { createLogger, defaultNodeId, ListenError, startApp, superviseWorkers, WorkerStartError } = await import('../app/index.ts');
      const config = loadConfig(options.workers === undefined ? process.env : { ...process.env, TRUSTGATE_WORKERS: options.workers });
      const worker = options.worker === undefined ? undefined : { index: Number(options.worker) };
      const logger = worker ? createLogger(config.log.level, config.log.format).child({ worker: worker.index }) : createLogger(config.log.level, config.log.format);
      const explainListen = (error: unknown): never => {
        // A port in use is the operator's to change, not a bug (exit 75): one line naming the variable.
        if (error instanceof ListenError) throw new CliError(error.message, LISTEN_EXIT[error.failure], { cause: error });
        throw error;
      };

      if (!worker && config.cluster.workers > 1) {
        const count = config.cluster.workers;
        const running = await superviseWorkers({
          count,
          baseNodeId: config.cluster.nodeId ?? defaultNodeId(`-w${count - 1}`.length),
          mqtt: { host: config.mqtt.host, port: config.mqtt.port },
          http: { host: config.http.host, port: config.http.port },
          entry: process.argv[1]!,
          args: (index) => ['serve', '--worker', String(index)],
          logger,
        }).catch((error: unknown) => {
          if (error instanceof WorkerStartError) throw new CliError(error.message, error.exitCode, { cause: error });
          return explainListen(error);
        });
        const stopping = firstSignal(logger, () => running.kill());
        let asked = false;
        const code = await Promise.race([stopping.then(() => {
          asked = true;
          running.stop();
          return running.finished;
        }), running.finished]);
        if (code !== 0) {
          throw new CliError(asked
            ? `a worker did not shut down cleanly (exit ${code}): its line in the log above says how it ended`
            : `a worker kept failing (exit ${code}): every worker was stopped; the reasons are in the log above`, code);
        }
        return;
      }

      const app = await startApp(config, { logger, worker }).catch(explainListen);
      // A worker tells its supervisor it listens, and leaves when the supervisor is gone (killed):
      // no orphan keeps serving that nobody would restart or stop.
      const stopping = firstSignal(logger, () => process.kill(process.pid, 'SIGKILL'), worker ? (stop) => process.once('disconnect', stop) : undefined);
      // After the handlers: the supervisor may send SIGTERM as soon as it reads this.
      process.send?.({ type: 'trustgate.workerReady', httpPort: app.httpPort, mqttPort: app.mqttPort });
      await stopping;
      await app.close();
      if (worker && process.connected) process.disconnect();
    });
};
