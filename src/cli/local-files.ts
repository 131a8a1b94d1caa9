import { createPrivateKey } from 'node:crypto';
import { access, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { containsPrivateKey, parseCertificatePem, parsePemBlocks, type Certificate } from '../pki/index.ts';
import { isDomainError } from '../shared/index.ts';
import { publishOnce, publishReplacing } from '../files/index.ts';
import { CliError, EXIT } from './cli-error.ts';

// Reading the files a person points the CLI at, and writing the ones it makes. Every failure names
// the file and the option, with its own exit code: missing (66), not what it should be (65),
// already there (73).

const MAX_INPUT_BYTES = 1024 * 1024;

export const readInputFile = async (path: string, option: string, maxBytes = MAX_INPUT_BYTES): Promise<string> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new CliError(`${option} ${path}: ${why}`, EXIT.noInput, { cause: error });
  }
  if (text.length > maxBytes) throw new CliError(`${option} ${path} is larger than ${maxBytes / 1024 / 1024} MiB; it is not a PEM file trustgate takes`, EXIT.dataError);
  return text;
};

const labelsIn = (text: string): string => {
  const labels = parsePemBlocks(text).map((block) => block.label);
  return labels.length > 0 ? ` (it holds ${labels.join(', ')})` : '';
};

/** Exactly one PEM certificate (a key in the file is refused without echoing it). */
export const readCertificateFile = async (path: string, option: string): Promise<Certificate> => {
  const text = await readInputFile(path, option);
  if (containsPrivateKey(text)) {
    throw new CliError(`${option} ${path} holds a private key; pass the certificate file (-----BEGIN CERTIFICATE-----) here`, EXIT.dataError);
  }
  try {
    return parseCertificatePem(text, `${option} ${path}`);
  } catch (error) {
    if (!isDomainError(error)) throw error;
    const many = error.code === 'pem.multipleCertificates' ? 'holds more than one certificate; pass a file with just one' : undefined;
    throw new CliError(`${option} ${path} ${many ?? `is not a PEM certificate${labelsIn(text)}; expected one -----BEGIN CERTIFICATE----- block`}`, EXIT.dataError, { cause: error });
  }
};

/** A PEM private key (PKCS#8, PKCS#1 or SEC1), as text; passphrase-protected keys are refused. */
export const readPrivateKeyFile = async (path: string, option: string): Promise<string> => {
  const text = await readInputFile(path, option);
  try {
    createPrivateKey(text);
  } catch (error) {
    const isEncrypted = /ENCRYPTED/.test(text) || /passphrase/i.test((error as Error).message);
    const why = isEncrypted ? 'is passphrase-protected; pass an unencrypted key' : `is not a PEM private key${labelsIn(text)}; expected a -----BEGIN PRIVATE KEY----- block`;
    throw new CliError(`${option} ${path} ${why}`, EXIT.dataError, { cause: error });
  }
  return text;
};

export interface OutputFile {
  readonly path: string;
  readonly content: string;
  /** 0o600 for private keys, 0o644 otherwise. */
  readonly mode: number;
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

/** Creates `dir` if needed, and refuses (73) when one of `paths` exists and --force is not given. */
export const prepareOutputs = async (dir: string, paths: readonly string[], force: boolean): Promise<void> => {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw new CliError(`cannot create --out-dir ${dir}: ${(error as Error).message}`, EXIT.cantCreate, { cause: error });
  }
  if (force) return;
  for (const path of paths) {
    if (await exists(path)) {
      const more = paths.length > 10 ? ' (checked every file it would write)' : '';
      throw new CliError(`${path} already exists; add --force to overwrite it${more}`, EXIT.cantCreate);
    }
  }
};

// Why a file could not be written, naming the path the person gave, not the temporary file
// (`<path>.<pid>.<random>.tmp`) that the system call failed on.
const whyNotWritten = (path: string, error: unknown): string => {
  const dir = dirname(path);
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT': return `the directory ${dir} does not exist`;
    case 'ENOTDIR': return `${dir} is not a directory`;
    case 'EACCES':
    case 'EPERM': return `permission denied in ${dir}`;
    case 'EISDIR': return `${path} is a directory`;
    case 'EROFS': return `${dir} is on a read-only file system`;
    case 'ENOSPC': return 'no space left on the device';
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/(\S*?)\.\d+\.[0-9a-f]{12}\.tmp/g, '$1');
};

// Written under a temporary name, fsynced and linked (renamed with --force) into place: a file is
// whole or absent, and two runs racing for one name cannot both win.
export const writeOutputs = async (files: readonly OutputFile[], force: boolean): Promise<void> => {
  for (const { path, content, mode } of files) {
    try {
      if (force) await publishReplacing(path, content, mode);
      else if (!(await publishOnce(path, content, mode))) throw new CliError(`${path} already exists; add --force to overwrite it`, EXIT.cantCreate);
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new CliError(`cannot write ${path}: ${whyNotWritten(path, error)}`, EXIT.cantCreate, { cause: error });
    }
  }
};

export const outputPath = (dir: string, name: string): string => (dir === '.' ? name : join(dir, name));
