import { execFile, type ExecFileException } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRUSTGATE_BIN } from '../support/spawn-server.ts';

// Helpers shared by the end-to-end tests: a child process with a bound, OpenSSL as a user runs
// it, the CLI, and fetch with a bound. The bounds only matter when something hangs: generous, so
// that a machine with both cores busy elsewhere does not trip them.

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion (killed after `timeoutMs`, default 60 s); never rejects on a non-zero exit. */
export const run = (file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> =>
  new Promise((resolveRun, reject) => {
    execFile(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      timeout: options.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
      maxBuffer: 16 * 1024 * 1024,
      encoding: 'utf8',
    }, (error: ExecFileException | null, stdout: string, stderr: string) => {
      if (error && typeof error.code === 'string') return reject(error); // ENOENT and friends: not a run
      if (error?.killed) return reject(new Error(`${file} ${args.join(' ')} was killed after ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      resolveRun({
        code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
        signal: (error?.signal as NodeJS.Signals | undefined) ?? null,
        stdout,
        stderr,
      });
    });
  });

/** Like run, but a non-zero exit is an error carrying the output. */
export const runOk = async (file: string, args: readonly string[], options: Parameters<typeof run>[2] = {}): Promise<RunResult> => {
  const result = await run(file, args, options);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited with ${result.code ?? result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return result;
};

export const makeTempDir = (prefix: string): Promise<string> => mkdtemp(join(tmpdir(), `trustgate-e2e-${prefix}-`));
export const removeDir = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true, maxRetries: 3 });

/** `bin/trustgate token ...` on a data dir, as a user runs it. */
export const cliToken = async (dataDir: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> =>
  (await runOk(TRUSTGATE_BIN, ['token', ...args], { env: { ...env, TRUSTGATE_DATA_DIR: dataDir } })).stdout.trim();

export interface ApiAnswer {
  readonly status: number;
  readonly body: any;
  readonly text: string;
}

/** fetch with a Bearer token and a bound (default 30 s); JSON bodies in and out. */
export const api = async (url: string, token: string, init: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<ApiAnswer> => {
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: `Bearer ${token}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(init.timeoutMs ?? 30_000),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text };
};

export interface OpensslCa {
  readonly keyPath: string;
  readonly certPath: string;
  readonly pem: string;
  /** SHA-256 of the DER, lowercase hex without colons: what the API calls `fingerprint`. */
  readonly fingerprint: string;
}

const fingerprintOf = async (certPath: string): Promise<string> => {
  const { stdout } = await runOk('openssl', ['x509', '-in', certPath, '-noout', '-fingerprint', '-sha256']);
  return stdout.trim().replace(/^.*=/, '').replaceAll(':', '').toLowerCase();
};

/** A self-signed CA made with the how-to's OpenSSL commands (EC P-256 by default: fast). */
export const opensslCa = async (dir: string, name: string, keyType: 'ec' | 'rsa' = 'ec'): Promise<OpensslCa> => {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.pem`);
  if (keyType === 'ec') await runOk('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-out', keyPath]);
  else await runOk('openssl', ['genrsa', '-out', keyPath, '2048']);
  await runOk('openssl', ['req', '-x509', '-new', '-nodes', '-key', keyPath, '-sha256', '-days', '1825', '-out', certPath,
    '-subj', `/C=DE/ST=BW/O=Acme/OU=IT/CN=${name}`]);
  return { keyPath, certPath, pem: await readFile(certPath, 'utf8'), fingerprint: await fingerprintOf(certPath) };
};

/** The how-to's verification certificate: CN = registration code, signed by the CA (X.509 v1). */
export const opensslVerificationCertificate = async (dir: string, ca: OpensslCa, registrationCode: string): Promise<string> => {
  const base = join(dir, `verification-${registrationCode}`);
  await runOk('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-out', `${base}.key`]);
  await runOk('openssl', ['req', '-new', '-key', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${registrationCode}`]);
  await runOk('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-CAcreateserial',
    '-out', `${base}.pem`, '-days', '7', '-sha256']);
  return readFile(`${base}.pem`, 'utf8');
};

export const sleep = (ms: number): Promise<void> => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
