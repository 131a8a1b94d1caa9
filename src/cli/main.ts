import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/index.ts';
import { registerBrokerCaCommand } from './broker-ca-command.ts';
import { CliError, EXIT } from './cli-error.ts';
import { registerServeCommand } from './serve-command.ts';
import { registerTokenCommand } from './token-command.ts';

const program = new Command('trustgate')
  .description('Certificate-based onboarding of MQTT agents: MindConnect MQTT v3 compatible CA registry')
  .option('--verbose', 'print stack traces on failure')
  .showHelpAfterError()
  .exitOverride();

registerServeCommand(program);
registerTokenCommand(program);
registerBrokerCaCommand(program);

// The only place that ends the process: one clear line and a distinct exit code on failure.
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode === 0 ? 0 : EXIT.usage);
  }
  const verbose = program.opts<{ verbose?: boolean }>().verbose;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`trustgate: ${message}\n`);
  if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(error instanceof CliError ? error.exitCode : error instanceof ConfigError ? EXIT.config : EXIT.software);
}
