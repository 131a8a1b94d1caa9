import { constants } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEV_SIGNING_KEY_FILE } from '../auth/index.ts';
import { publishOnce } from '../files/index.ts';
import { isPostgresUrl, snapshotSqliteDatabase, sqlitePathOf } from '../storage/index.ts';
import {
  BROKER_ROOT_CA_FILE, BROKER_ROOT_CA_KEY_FILE, BROKER_SERVER_CERTIFICATE_FILE, BROKER_SERVER_KEY_FILE,
} from './broker-tls-identity.ts';
import { MANAGED_CA_SEALING_KEY_FILE } from './managed-ca-sealing-key.ts';

/** The embedded default database's file in the data dir (TRUSTGATE_DATABASE_URL unset). */
export const SQLITE_DATABASE_FILE = 'trustgate.db';

/**
 * Every file trustgate keeps in the data dir besides the database, with the mode it is created
 * with. docs/config.md's data-dir table and docs/deployment.md's backup section name each
 * (test/docs.test.ts); `trustgate backup` copies each that exists.
 */
export const DATA_DIR_KEY_FILES: readonly { readonly name: string; readonly mode: number }[] = [
  { name: DEV_SIGNING_KEY_FILE, mode: 0o600 },
  { name: MANAGED_CA_SEALING_KEY_FILE, mode: 0o600 },
  { name: BROKER_ROOT_CA_FILE, mode: 0o644 },
  { name: BROKER_ROOT_CA_KEY_FILE, mode: 0o600 },
  { name: BROKER_SERVER_CERTIFICATE_FILE, mode: 0o644 },
  { name: BROKER_SERVER_KEY_FILE, mode: 0o600 },
];

/** Why a backup could not be taken: nothing to read (`noInput`) or the target is taken (`cantCreate`). */
export class BackupError extends Error {
  readonly reason: 'noInput' | 'cantCreate';

  constructor(reason: 'noInput' | 'cantCreate', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupError';
    this.reason = reason;
  }
}

export interface BackupResult {
  readonly dataDir: string;
  readonly outDir: string;
  /** The SQLite snapshot written as `trustgate.db`, or PostgreSQL (not copied: pg_dump it). */
  readonly database: { readonly kind: 'sqlite'; readonly source: string; readonly bytes: number } | { readonly kind: 'postgres' };
  /** The data dir's files copied, in DATA_DIR_KEY_FILES order. */
  readonly files: readonly string[];
  /** The data dir's files that were not there (e.g. the broker's with the operator's own TLS files). */
  readonly absent: readonly string[];
}

const fsyncPath = async (path: string): Promise<void> => {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);
const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOENT';

// A data dir file as the server keeps it: a regular file of the data dir's owner. Whoever runs the
// server can put links there; the backup, often run as root, must not copy what they point to
// (another user's secrets, into a backup restored where the server can read them), nor hang on a
// FIFO. Checked on the opened file, so a link swapped meanwhile changes nothing.
const readDataDirFile = async (path: string, owner: number): Promise<string | undefined> => {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.uid !== owner) {
      throw new BackupError('noInput', `${path} is not a regular file of the data dir's owner (uid ${owner}): a link to elsewhere or a special file is not backed up; replace it by the file itself`);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
};

// An empty or new directory: a backup never mixes with an older one.
const prepareOutDir = async (outDir: string): Promise<void> => {
  let entries: string[];
  let existed = true;
  try {
    entries = await readdir(outDir);
  } catch (error) {
    if (!isMissing(error)) throw new BackupError('cantCreate', `--out ${outDir} cannot be used: ${(error as Error).message}`, { cause: error });
    entries = [];
    existed = false;
  }
  if (entries.length > 0) throw new BackupError('cantCreate', `--out ${outDir} is not empty; give a new directory for each backup`);
  if (existed) {
    // Whoever can write there can swap a key or the database before it is restored: only ours.
    const { mode, uid } = await stat(outDir);
    if ((mode & 0o022) !== 0 || (process.getuid !== undefined && uid !== process.getuid())) {
      throw new BackupError('cantCreate', `--out ${outDir} is a directory others can write (mode ${(mode & 0o777).toString(8).padStart(4, '0')}, owner ${uid}): give a new directory, or one only you own and can write`);
    }
  }
  try {
    await mkdir(outDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new BackupError('cantCreate', `cannot create --out ${outDir}: ${(error as Error).message}`, { cause: error });
  }
};

/**
 * A restorable copy of a data dir, taken while the server runs: a consistent snapshot of the SQLite
 * database (VACUUM INTO: one read transaction, writers go on) and a copy of every key and
 * certificate file. The database is copied first: a key is created before the database records
 * it, so every key the snapshot expects is on disk when the files are copied after it. With
 * PostgreSQL only the files are copied; the database is the operator's pg_dump.
 */
export const backUpDataDir = async ({ dataDir: givenDataDir, databaseUrl, outDir: givenOutDir }: {
  readonly dataDir: string; readonly databaseUrl: string; readonly outDir: string;
}): Promise<BackupResult> => {
  const dataDir = resolve(givenDataDir);
  const outDir = resolve(givenOutDir);
  let owner: number;
  try {
    const info = await stat(dataDir);
    if (!info.isDirectory()) throw new BackupError('noInput', `the data dir ${dataDir} (TRUSTGATE_DATA_DIR) is not a directory`);
    owner = info.uid;
  } catch (error) {
    if (!isMissing(error)) throw error;
    throw new BackupError('noInput', `there is no data dir ${dataDir}: set TRUSTGATE_DATA_DIR to the directory "trustgate serve" uses`);
  }
  const sqlitePath = isPostgresUrl(databaseUrl) ? undefined : resolve(sqlitePathOf(databaseUrl));
  if (sqlitePath !== undefined && !(await exists(sqlitePath))) {
    throw new BackupError('noInput', `there is no SQLite database ${sqlitePath}: set TRUSTGATE_DATA_DIR (and TRUSTGATE_DATABASE_URL, if set for the server) to what "trustgate serve" uses`);
  }
  if (sqlitePath === undefined && !(await Promise.all(DATA_DIR_KEY_FILES.map(({ name }) => exists(join(dataDir, name))))).includes(true)) {
    throw new BackupError('noInput', `the data dir ${dataDir} holds none of trustgate's files (${DATA_DIR_KEY_FILES.map((file) => file.name).join(', ')}): set TRUSTGATE_DATA_DIR to the directory "trustgate serve" uses`);
  }
  await prepareOutDir(outDir);

  let database: BackupResult['database'] = { kind: 'postgres' };
  if (sqlitePath !== undefined) {
    const target = join(outDir, SQLITE_DATABASE_FILE);
    // Created here, empty and private, and never one that appeared meanwhile (nor a link): VACUUM
    // INTO fills an existing empty file and would otherwise create it readable by everyone.
    try {
      await (await open(target, 'wx', 0o600)).close();
    } catch (error) {
      throw new BackupError('cantCreate', `cannot create ${target}: ${(error as Error).message}`, { cause: error });
    }
    try {
      snapshotSqliteDatabase(sqlitePath, target);
      await fsyncPath(target);
    } catch (error) {
      await rm(target, { force: true });
      throw new BackupError('noInput', `could not take a snapshot of the SQLite database ${sqlitePath}: ${(error as Error).message}`, { cause: error });
    }
    database = { kind: 'sqlite', source: sqlitePath, bytes: (await stat(target)).size };
  }

  const files: string[] = [];
  const absent: string[] = [];
  for (const { name, mode } of DATA_DIR_KEY_FILES) {
    const content = await readDataDirFile(join(dataDir, name), owner);
    if (content === undefined) {
      absent.push(name);
      continue;
    }
    // Written and fsynced under a temporary name, then linked: never half a key in a backup.
    if (!(await publishOnce(join(outDir, name), content, mode))) {
      throw new BackupError('cantCreate', `${join(outDir, name)} appeared in --out while the backup ran (another backup, or someone else writing there): this backup is incomplete, take it again into a new directory`);
    }
    files.push(name);
  }
  await fsyncPath(outDir);
  return { dataDir, outDir, database, files, absent };
};
