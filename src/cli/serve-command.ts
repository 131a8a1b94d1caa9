import type { Command } from 'commander';
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

// `trustgate serve`: run until SIGINT/SIGTERM, then close in order.
export const registerServeCommand = (program: Command): void => {
  program.command('serve')
    .description('start the REST API on the embedded default (SQLite and generated keys in TRUSTGATE_DATA_DIR)')
    .addHelpText('after', settingsHelp)
    .action(async () => {
      // Loaded here, not at the top: the server's modules (Fastify, aedes, Kysely) would slow every other command down.
      const { createLogger, ListenError, startApp } = await import('../app/index.ts');
      const config = loadConfig();
      const logger = createLogger(config.log.level, config.log.format);
      let app;
      try {
        app = await startApp(config, { logger });
      } catch (error) {
        // A port in use is the operator's to change, not a bug (exit 70): one line naming the variable.
        if (error instanceof ListenError) throw new CliError(error.message, LISTEN_EXIT[error.failure], { cause: error });
        throw error;
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          logger.info({ signal, hint: 'send the signal again to exit at once' }, 'shutting down');
          // A second signal means "now": exit without waiting for connections to drain.
          process.once('SIGINT', () => process.kill(process.pid, 'SIGKILL'));
          process.once('SIGTERM', () => process.kill(process.pid, 'SIGKILL'));
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await app.close();
    });
};
