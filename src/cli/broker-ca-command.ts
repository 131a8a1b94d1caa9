import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { derToPem, parsePemBlocks } from '../pki/index.ts';
import { CliError, EXIT } from './cli-error.ts';

interface BrokerCaOptions {
  url?: string;
  out?: string;
  force?: boolean;
  json?: boolean;
}

const DEFAULT_URL = 'http://localhost:8080';
const TIMEOUT_MS = 10_000;

const baseUrlOf = (raw: string): string => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`"${raw}" is not a URL: use e.g. ${DEFAULT_URL}`, EXIT.usage);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`"${raw}" is not an http:// or https:// URL`, EXIT.usage);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
};

// fetch() reports every network failure as "fetch failed"; the useful part is in its cause (an
// AggregateError when "localhost" resolves to both ::1 and 127.0.0.1).
const describeNetworkError = (error: unknown): string => {
  if (error instanceof DOMException && error.name === 'TimeoutError') return `no answer within ${TIMEOUT_MS / 1000} s`;
  let cause = (error as { cause?: unknown }).cause ?? error;
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0];
  const code = (cause as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused; is "trustgate serve" running there?',
    ENOTFOUND: 'unknown host',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
  };
  if (code && known[code]) return `${known[code]} (${code})`;
  return (cause as Error).message || code || String(cause);
};

const serverMessage = (text: string): string | undefined => {
  try {
    const message = (JSON.parse(text) as { errors?: { message?: unknown }[] }).errors?.[0]?.message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return undefined;
  }
};

const fetchRootCa = async (base: string): Promise<X509Certificate> => {
  const url = `${base}/broker-ca.pem`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    text = await response.text();
  } catch (error) {
    throw new CliError(`cannot reach trustgate at ${base}: ${describeNetworkError(error)}`, EXIT.unavailable);
  }
  if (!response.ok) {
    const message = serverMessage(text);
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

const writeOut = async (path: string, pem: string, force: boolean): Promise<void> => {
  try {
    await writeFile(path, pem, { flag: force ? 'w' : 'wx', mode: 0o644 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${path} already exists; add --force to overwrite it`, EXIT.usage);
    throw new CliError(`cannot write ${path}: ${(error as Error).message}`, EXIT.usage);
  }
};

// `trustgate broker-ca`: the root agents need to trust the broker, from a running server. Only the
// PEM goes to stdout, so `trustgate broker-ca > broker-ca.pem` works.
export const registerBrokerCaCommand = (program: Command): void => {
  program.command('broker-ca')
    .description('print the broker root CA certificate (agents trust it to verify the MQTT broker), fetched from a running server')
    .option('--url <url>', `server URL (default: TRUSTGATE_URL, else ${DEFAULT_URL})`)
    .option('--out <file>', 'write the PEM to this file instead of stdout')
    .option('--force', 'overwrite the --out file if it exists')
    .option('--json', 'print {subject, fingerprintSha256, notAfter, pem, file} as JSON')
    .action(async (options: BrokerCaOptions) => {
      const base = baseUrlOf(options.url ?? (process.env.TRUSTGATE_URL?.trim() || DEFAULT_URL));
      const certificate = await fetchRootCa(base);
      const pem = derToPem(certificate.raw);
      if (options.out) await writeOut(options.out, pem, options.force === true);
      const fingerprintSha256 = certificate.fingerprint256.replaceAll(':', '').toLowerCase();
      if (options.json) {
        const summary = { subject: certificate.subject, fingerprintSha256, notAfter: certificate.validToDate.toISOString(), pem, file: options.out ?? null };
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } else if (options.out) {
        process.stdout.write(`wrote the broker root CA "${certificate.subject}" (SHA-256 ${fingerprintSha256}, valid until ${certificate.validToDate.toISOString().slice(0, 10)}) to ${options.out}\n`);
      } else {
        process.stdout.write(pem);
      }
    });
};
