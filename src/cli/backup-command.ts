import type { Command } from 'commander';
import { backUpDataDir, BackupError, BROKER_ROOT_CA_KEY_FILE, databaseUrlOf } from '../app/index.ts';
import { loadConfig } from '../config/index.ts';
import { CliError, EXIT } from './cli-error.ts';
import { outputOf } from './cli-context.ts';

// `trustgate backup --out <dir>`: what an operator restores a node from, taken while it serves
// (docs/deployment.md, "Backup and restore"). Reads the server's settings (TRUSTGATE_DATA_DIR,
// TRUSTGATE_DATABASE_URL) from the environment, like `trustgate serve`.
export const registerBackupCommand = (program: Command): void => {
  program.command('backup')
    .description('copy the data dir (a consistent snapshot of the SQLite database, and every key and certificate file) to a new directory, while the server runs')
    .requiredOption('--out <dir>', 'a new or empty directory for the backup; restore by copying its files into an empty TRUSTGATE_DATA_DIR before starting')
    .addHelpText('after', '\nWith PostgreSQL (TRUSTGATE_DATABASE_URL=postgres://…) only the data dir\'s files are copied: dump the database with pg_dump.\n'
      + 'With --json: {dataDir, outDir, database: {kind, source?, bytes?}, files, absent}.')
    .action(async (options: { out: string }, command: Command) => {
      const output = outputOf(command);
      const config = loadConfig();
      let result;
      try {
        result = await backUpDataDir({ dataDir: config.storage.dataDir, databaseUrl: databaseUrlOf(config), outDir: options.out });
      } catch (error) {
        if (error instanceof BackupError) throw new CliError(error.message, error.reason === 'noInput' ? EXIT.noInput : EXIT.cantCreate, { cause: error });
        throw error;
      }
      const { dataDir, outDir, database, files, absent } = result;
      output.result(result, () => [
        `backed up ${dataDir} to ${outDir}:`,
        ...(database.kind === 'sqlite' ? [`  trustgate.db (a consistent snapshot of ${database.source}, ${database.bytes} bytes)`] : []),
        ...files.map((name) => `  ${name}`),
        ...(database.kind === 'postgres'
          ? ['the database is PostgreSQL (TRUSTGATE_DATABASE_URL): it is not in this backup; dump it with pg_dump and keep the dump with these files']
          : []),
        ...(absent.includes(BROKER_ROOT_CA_KEY_FILE)
          ? ['no broker root CA in the data dir: the server uses your own TLS files (TRUSTGATE_TLS_CERT_FILE, TRUSTGATE_TLS_KEY_FILE); back them up too']
          : []),
        'restore: stop the nodes, copy these files into an empty TRUSTGATE_DATA_DIR (mode 0700) on every node, then start them',
      ]);
    });
};
