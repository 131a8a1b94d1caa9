import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../config/index.ts';
import { registerAgentCommands } from './agent-commands.ts';
import { registerAgentTokenKeyCommands } from './agent-token-key-commands.ts';
import { registerAuditCommands } from './audit-commands.ts';
import { registerCommandCommands } from './command-commands.ts';
import { registerBackupCommand } from './backup-command.ts';
import { registerBrokerCaCommand } from './broker-ca-command.ts';
import { registerCaCommands } from './ca-commands.ts';
import { describeFailure, EXIT } from './cli-error.ts';
import { GLOBAL_HELP, type GlobalOptions } from './cli-context.ts';
import { registerDoctorCommand } from './doctor-command.ts';
import { registerServeCommand } from './serve-command.ts';
import { registerTokenCommand } from './token-command.ts';
import { registerConsoleCommand } from './console-command.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

// Global options are the program's; commander also picks them up after a subcommand
// (`trustgate ca list --json`), and every command reads them with optsWithGlobals().
const program = new Command('trustgate')
  .description('Certificate-based onboarding of MQTT agents: MindConnect MQTT v3 compatible CA registry, mutual-TLS broker, and this CLI')
  .version(version, '--version', 'print the version')
  .addOption(new Option('--url <url>', GLOBAL_HELP.url))
  .addOption(new Option('--token <jwt>', GLOBAL_HELP.token))
  .option('--json', GLOBAL_HELP.json)
  .option('--verbose', GLOBAL_HELP.verbose)
  .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
  // Usage errors are one line too (the help is one --help away), prefixed like every other failure.
  .configureOutput({ outputError: (text, write) => write(`trustgate: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`) })
  .exitOverride()
  .addHelpText('after', `
Four commands from nothing to a connected agent (no OpenSSL):
  trustgate ca create --tenant acme
  trustgate ca register --cert acme-ca.pem --key acme-ca.key --name "acme CA" --tenant acme
  trustgate agent issue --name pump-1 --ca-cert acme-ca.pem --ca-key acme-ca.key --tenant acme
  trustgate broker-ca --out broker-ca.pem
Exit codes: 0 ok, 1 doctor says refused, 64 usage, 65 bad input data, 66 input file missing,
67 not found, 69 server unreachable, 70 unexpected, 73 output exists, 75 conflict, limit or port in use,
77 not authorized, 78 bad configuration (docs/cli.md).`);

registerServeCommand(program);
registerTokenCommand(program);
registerConsoleCommand(program);
registerCaCommands(program);
registerAgentCommands(program);
registerAuditCommands(program);
registerCommandCommands(program);
registerDoctorCommand(program);
registerBrokerCaCommand(program);
registerBackupCommand(program);
registerAgentTokenKeyCommands(program);

// The only place that ends the process: one clear line and a distinct exit code on failure.
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode === 0 ? 0 : EXIT.usage);
  }
  const { line, exitCode } = describeFailure(error, (e) => e instanceof ConfigError);
  // Configuration problems: one line per problem (docs/config.md), all of them at once.
  const lines = error instanceof ConfigError ? error.problems.map((problem) => problem.replace(/\s*\n\s*/g, ' ').trim()) : [line];
  for (const each of lines) process.stderr.write(`trustgate: ${each}\n`);
  if (program.opts<GlobalOptions>().verbose) {
    for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) process.stderr.write(`${cause.stack ?? cause.message}\n`);
  }
  process.exit(exitCode);
}
