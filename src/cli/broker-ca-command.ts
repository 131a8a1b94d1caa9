import { X509Certificate } from 'node:crypto';
import type { Command } from 'commander';
import { derToPem, parsePemBlocks } from '../pki/index.ts';
import { fetchOrExplain, serverError } from './api-client.ts';
import { CliError, EXIT } from './cli-error.ts';
import { globalsOf, serverUrlOf } from './cli-context.ts';
import { writeOutputs } from './local-files.ts';

interface BrokerCaOptions {
  out?: string;
  force?: boolean;
}

const fetchRootCa = async (base: string): Promise<X509Certificate> => {
  const url = `${base}/broker-ca.pem`;
  const { response, text } = await fetchOrExplain(base, url);
  if (!response.ok) {
    const { code, message } = serverError(text) ?? {};
    // The operator's own TLS certificate: no root to fetch, and nothing wrong with the server.
    if (response.status === 404 && code === 'brokerCa.notGenerated') {
      throw new CliError(`${message} Give agents that CA's certificate (PEM) as their broker CA, e.g. mosquitto_pub --cafile <that CA>.pem (${code})`, EXIT.notFound);
    }
    if (response.status === 404 && message) throw new CliError(message, EXIT.unavailable);
    throw new CliError(`${url} answered HTTP ${response.status}${message ? `: ${message}` : response.status === 404 ? '; is this a trustgate server?' : ''}`, EXIT.unavailable);
  }
  const certificates = parsePemBlocks(text).filter((block) => block.label === 'CERTIFICATE');
  if (certificates.length !== 1) {
    throw new CliError(`${url} did not answer with one PEM certificate (found ${certificates.length}); is this a trustgate server?`, EXIT.dataError);
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificates[0]!.der);
  } catch {
    throw new CliError(`${url} answered with a PEM certificate that does not parse`, EXIT.dataError);
  }
  if (!certificate.ca) throw new CliError(`${url} answered with a certificate that is not a CA (${certificate.subject})`, EXIT.dataError);
  return certificate;
};

// `trustgate broker-ca`: the root agents need to trust the broker, from a running server. Only the
// PEM goes to stdout, so `trustgate broker-ca > broker-ca.pem` works.
export const registerBrokerCaCommand = (program: Command): void => {
  program.command('broker-ca')
    .description('print the broker root CA certificate (agents trust it to verify the MQTT broker), fetched from a running server')
    .option('--out <file>', 'write the PEM to this file instead of stdout')
    .option('--force', 'overwrite the --out file if it exists')
    .addHelpText('after', '\nWith --json: {subject, fingerprintSha256, notAfter, pem, file}. No token needed: the root CA is public.')
    .action(async (options: BrokerCaOptions, command: Command) => {
      const globals = globalsOf(command);
      const certificate = await fetchRootCa(serverUrlOf(globals));
      const pem = derToPem(certificate.raw);
      if (options.out) await writeOutputs([{ path: options.out, content: pem, mode: 0o644 }], options.force === true);
      const fingerprintSha256 = certificate.fingerprint256.replaceAll(':', '').toLowerCase();
      if (globals.json) {
        const summary = { subject: certificate.subject, fingerprintSha256, notAfter: certificate.validToDate.toISOString(), pem, file: options.out ?? null };
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } else if (options.out) {
        process.stdout.write(`wrote the broker root CA "${certificate.subject}" (SHA-256 ${fingerprintSha256}, valid until ${certificate.validToDate.toISOString().slice(0, 10)}) to ${options.out}\n`);
      } else {
        process.stdout.write(pem);
      }
    });
};
