import type { Command } from 'commander';
import { containsPrivateKey, parsePemBlocks } from '../pki/index.ts';
import { CliError, EXIT } from './cli-error.ts';
import { connectApi, outputOf } from './cli-context.ts';
import { readInputFile } from './local-files.ts';

// `trustgate doctor`: would the broker accept this agent certificate (and client id), and if not,
// which check fails? A dry run on the server (POST /agents/doctor): nothing is onboarded.

interface DoctorStep {
  check: string;
  status: 'passed' | 'failed' | 'skipped';
  message: string;
}

interface Diagnosis {
  wouldBeAccepted: boolean;
  clientId: string | null;
  steps: DoctorStep[];
}

const MARK: Readonly<Record<DoctorStep['status'], string>> = { passed: '✓', failed: '✗', skipped: '–' };

export const formatDiagnosis = (diagnosis: Diagnosis): string[] => {
  const width = Math.max(...diagnosis.steps.map((step) => step.check.length));
  const verdict = diagnosis.wouldBeAccepted
    ? `would be accepted${diagnosis.clientId ? ` with client id ${diagnosis.clientId}` : ''}`
    : 'would be refused';
  return [...diagnosis.steps.map((step) => `${MARK[step.status]} ${step.check.padEnd(width)}  ${step.message}`), verdict];
};

export const registerDoctorCommand = (program: Command): void => {
  program.command('doctor')
    .description('ask the server whether the broker would accept an agent certificate, check by check (exit 1 if it would be refused)')
    .requiredOption('--cert <file>', 'the agent certificate (PEM; the chain file with the CA appended works too)')
    .option('--client-id <id>', 'the MQTT client id the agent will use (default: only say which one it must use)')
    .option('--tenant <tenant>', 'tenant to mint a dev token for, when no --token or TRUSTGATE_TOKEN is given')
    .action(async (options: { cert: string; clientId?: string; tenant?: string }, command: Command) => {
      const output = outputOf(command);
      const text = await readInputFile(options.cert, '--cert');
      // The key file passed by mistake must not travel to the server.
      if (containsPrivateKey(text)) {
        throw new CliError(`--cert ${options.cert} holds a private key; pass the agent certificate (-----BEGIN CERTIFICATE-----), the key stays on the agent`, EXIT.dataError);
      }
      if (!parsePemBlocks(text).some((block) => block.label === 'CERTIFICATE')) {
        throw new CliError(`--cert ${options.cert} is not a PEM certificate; expected a -----BEGIN CERTIFICATE----- block`, EXIT.dataError);
      }
      const api = await connectApi(command, options.tenant);
      const diagnosis = await api.post<Diagnosis>('/agents/doctor', {
        agentCertificate: text,
        ...(options.clientId === undefined ? {} : { clientId: options.clientId }),
      });
      output.result(diagnosis, () => formatDiagnosis(diagnosis));
      // Not a failure of the command: the answer is "no". Like grep and diff, that is exit 1.
      if (!diagnosis.wouldBeAccepted) process.exitCode = EXIT.refused;
    });
};
