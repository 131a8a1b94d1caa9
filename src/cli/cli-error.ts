import { isDomainError } from '../shared/index.ts';

// A failure the CLI reports as one line with a distinct exit code, one per class of cause a person
// or a script acts on differently. sysexits.h numbers where one fits (FreeBSD sysexits(3)).
export const EXIT = {
  refused: 1,
  usage: 64,
  dataError: 65,
  noInput: 66,
  notFound: 67,
  unavailable: 69,
  software: 70,
  cantCreate: 73,
  conflict: 75,
  noPermission: 77,
  config: 78,
} as const;

export type ExitName = keyof typeof EXIT;

// The table docs/cli.md shows (a test keeps them equal); total over EXIT, so the compiler checks it.
export const EXIT_MEANINGS: Readonly<Record<ExitName, string>> = {
  refused: '`doctor` only: the broker would refuse this agent certificate (the steps say why)',
  usage: 'wrong or missing option or argument',
  dataError: 'bad input data: a file that is not PEM, a key that does not belong to the certificate, a certificate the server rejects (400)',
  noInput: 'an input file is missing or unreadable',
  notFound: 'no CA certificate or agent with this id in the tenant (404); `broker-ca`: the broker uses its own TLS certificate, so there is no broker root CA (use the CA that issued that certificate)',
  unavailable: 'the server cannot be reached, is not trustgate, or failed (5xx)',
  software: 'unexpected error (a bug: run again with --verbose and report the stack trace)',
  cantCreate: 'an output file already exists (add --force) or cannot be written',
  conflict: 'the server refused a state change: CA limit reached, duplicate, already verified by another tenant (409), rate limited (429); `serve`: a port is already in use (the line names TRUSTGATE_HTTP_PORT or TRUSTGATE_MQTT_PORT)',
  noPermission: 'no usable token, or the server refused it: invalid or expired (401), missing scope (403); `serve`: no permission to listen on a port below 1024',
  config: 'invalid TRUSTGATE_* environment variable (`serve`: also a TRUSTGATE_*_HOST address this machine does not have)',
};

export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Exit code for a failed API call, from its HTTP status and MindConnect error code. */
export const exitCodeForHttp = (status: number, code: string | undefined): number => {
  if (status === 401 || status === 403) return EXIT.noPermission;
  // An unknown object, or an agent a delivery job names that the tenant does not have.
  if (status === 404) return code?.endsWith('.notFound') || code === 'deliveryJob.agentNotFound' ? EXIT.notFound : EXIT.unavailable;
  if (status === 409 || status === 429) return EXIT.conflict;
  if (status === 400 || status === 413 || status === 415) return EXIT.dataError;
  if (status >= 500) return EXIT.unavailable;
  return EXIT.software;
};

/** The one line and exit code for anything an action threw. */
export const describeFailure = (error: unknown, isConfigError: (error: unknown) => boolean): { line: string; exitCode: number } => {
  const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();
  if (error instanceof CliError) return { line: oneLine(error.message), exitCode: error.exitCode };
  if (isConfigError(error)) return { line: oneLine((error as Error).message), exitCode: EXIT.config };
  // `serve` cannot reach its database: a service is unavailable, not the input wrong.
  if (isDomainError(error) && error.code === 'storage.unavailable') return { line: `${oneLine(error.message)} (${error.code})`, exitCode: EXIT.unavailable };
  // pki's own refusals (a CSR that does not verify, a weak key) are about the input.
  if (isDomainError(error)) return { line: `${oneLine(error.message)} (${error.code})`, exitCode: EXIT.dataError };
  const message = error instanceof Error ? error.message : String(error);
  return { line: `unexpected error: ${oneLine(message)} (run again with --verbose for the stack trace)`, exitCode: EXIT.software };
};

/** The exit code table of docs/cli.md (kept equal by cli-error.test.ts). */
export const exitCodeTableMarkdown = (): string => [
  '| exit code | class | meaning |',
  '|---|---|---|',
  '| 0 | ok | the command did what it was asked |',
  ...(Object.keys(EXIT) as ExitName[]).map((name) => `| ${EXIT[name]} | \`${name}\` | ${EXIT_MEANINGS[name]} |`),
].join('\n');
