import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { TRUSTGATE_BIN } from './spawn-server.ts';

// `bin/trustgate ...` as a user runs it, in a child process, for the CLI's tests. The caller's
// TRUSTGATE_URL / TRUSTGATE_TOKEN / TRUSTGATE_DATA_DIR never leak in: each test says what it uses.

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs?: number;
  /** Replace the whole environment instead of extending process.env. */
  readonly bareEnv?: boolean;
}

const cleanEnv = (): NodeJS.ProcessEnv => {
  const { TRUSTGATE_URL: _url, TRUSTGATE_TOKEN: _token, TRUSTGATE_DATA_DIR: _dataDir, NODE_OPTIONS: _nodeOptions, ...rest } = process.env;
  return rest;
};

export const cli = (args: readonly string[], { cwd, env = {}, timeoutMs = 60_000, bareEnv = false }: CliOptions = {}): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const merged = { ...(bareEnv ? {} : cleanEnv()), ...env };
    for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
    execFile(TRUSTGATE_BIN, args, { cwd, env: merged, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error && typeof error.code === 'string') return reject(error);
        if (error?.killed) return reject(new Error(`trustgate ${args.join(' ')} was killed after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      });
  });

/** Like cli, but fails the test on a non-zero exit, showing the output. */
export const cliOk = async (args: readonly string[], options: CliOptions = {}): Promise<CliResult> => {
  const result = await cli(args, options);
  assert.equal(result.code, 0, `trustgate ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
};

/** `--json` output: exactly one JSON document on stdout. */
export const cliJson = async <T = any>(args: readonly string[], options: CliOptions = {}): Promise<T> => {
  const result = await cliOk([...args, '--json'], options);
  assert.equal(result.stdout.trim().split('\n').length, 1, `one line of JSON: ${result.stdout}`);
  return JSON.parse(result.stdout) as T;
};

/**
 * A failure a person can act on: the exit code of its class, nothing on stdout, exactly one line
 * on stderr starting "trustgate: " (matching `pattern`), and no stack trace. Returns the line.
 */
export const assertOneLineFailure = (result: CliResult, exitCode: number, pattern?: RegExp): string => {
  const context = `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  assert.equal(result.code, exitCode, context);
  assert.equal(result.stdout, '', context);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `one line on stderr; ${context}`);
  const [line] = lines as [string];
  assert.match(line, /^trustgate: \S/, context);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace; ${context}`);
  assert.doesNotMatch(line, /\b(TypeError|ReferenceError|CliError|DomainError|unexpected error)\b/, context);
  if (pattern) assert.match(line, pattern, context);
  return line;
};

/** http://127.0.0.1:<a port nobody listens on>: a server that is down. */
export const closedPortUrl = async (): Promise<string> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
};
