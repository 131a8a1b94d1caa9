import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';

// `trustgate serve`: run until SIGINT/SIGTERM, then close in order.
export const registerServeCommand = (program: Command): void => {
  program.command('serve')
    .description('start the REST API on the embedded default (SQLite and generated keys in TRUSTGATE_DATA_DIR)')
    .action(async () => {
      // Loaded here, not at the top: the server's modules (Fastify, aedes, Kysely) would slow every other command down.
      const { createLogger, startApp } = await import('../app/index.ts');
      const config = loadConfig();
      const logger = createLogger(config.log.level);
      const app = await startApp(config, { logger });
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
