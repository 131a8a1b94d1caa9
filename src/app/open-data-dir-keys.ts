import type { Kysely } from 'kysely';
import { DEV_SIGNING_KEY_FILE, loadDevSigningKey, loadOrCreateDevSigningKey, type DevSigningKey } from '../auth/index.ts';
import { ConfigError } from '../config/index.ts';
import type { Clock } from '../shared/index.ts';
import { AesGcmPrivateKeySealer, KyselyDataDirKeys, KyselyManagedCaStore, type Database, type PrivateKeySealer } from '../storage/index.ts';
import { loadManagedCaSealingKey, loadOrCreateManagedCaSealingKey, MANAGED_CA_SEALING_KEY_FILE } from './managed-ca-sealing-key.ts';

export interface DataDirKeys {
  /** Undefined with an external identity provider (TRUSTGATE_JWKS_URL): there is no dev key to check. */
  readonly devSigningKey: DevSigningKey | undefined;
  readonly sealer: AesGcmPrivateKeySealer;
}

export interface OpenDataDirKeysOptions {
  readonly dataDir: string;
  readonly db: Kysely<Database>;
  /** Whether tokens come from the local dev issuer (no TRUSTGATE_JWKS_URL). */
  readonly usesDevIssuer: boolean;
  readonly clock: Clock;
}

/** What a data dir without a sealing key opens: nothing (a managed CA in the database then fails the check). */
const noSealingKey: PrivateKeySealer = {
  seal: () => { throw new Error(`this data dir has no ${MANAGED_CA_SEALING_KEY_FILE}`); },
  open: () => { throw new Error(`the database holds managed CAs whose private keys are sealed, but this data dir has no ${MANAGED_CA_SEALING_KEY_FILE}`); },
};

/**
 * The data dir's keys, checked against the database before anything is created (issue 12, item 6):
 * a node started with another data dir (an empty one against a restored database, another node's
 * from another cluster) would answer ready, refuse every token of the other nodes (401) and fail
 * every managed CA signature (500). It refuses to start instead (a ConfigError: exit code 78), and
 * creates no key of its own when the database was written with another one.
 *
 * The database keeps the ids of the keys that wrote it (`data_dir_keys`, recorded by the first node
 * started on it); on a database from before that record, a stored managed CA key must open.
 */
export const openDataDirKeys = async ({ dataDir, db, usesDevIssuer, clock }: OpenDataDirKeysOptions): Promise<DataDirKeys> => {
  const recorded = new KyselyDataDirKeys(db);
  const refuse = (detail: string): ConfigError => new ConfigError(`The data dir ${dataDir} (TRUSTGATE_DATA_DIR) does not belong to this database: ${detail}. `
    + 'Start the node with the data dir the database was written with (every node of a cluster needs the same keys: copy the data dir of a running node, or restore the backup of the data dir taken with this database).');

  // Read and compared first, created and recorded after: a refused start leaves no key behind.
  let devSigningKey: DevSigningKey | undefined;
  if (usesDevIssuer) {
    const [recordedKid, existing] = await Promise.all([recorded.find('devTokenIssuer'), loadDevSigningKey(dataDir)]);
    if (recordedKid !== undefined && existing?.publicJwk.kid !== recordedKid) {
      // A deliberate new dev key (every node gets the new file) is possible: the record is cleared by hand.
      throw refuse(`its dev token signing key (${DEV_SIGNING_KEY_FILE}) is ${existing ? `key ${String(existing.publicJwk.kid)}` : 'missing'}, `
        + `but this database was written by nodes whose dev token key is ${recordedKid}: their tokens would be refused here (401). `
        + `To start with a new dev token key on purpose, stop every node, give each the new ${DEV_SIGNING_KEY_FILE} and run `
        + `DELETE FROM data_dir_keys WHERE purpose = 'devTokenIssuer' on the database`);
    }
    devSigningKey = existing;
  }
  const [recordedSealingId, existingSealingKey] = await Promise.all([recorded.find('managedCaSealing'), loadManagedCaSealingKey(dataDir)]);
  const existingSealer = existingSealingKey && new AesGcmPrivateKeySealer(existingSealingKey);
  if (recordedSealingId !== undefined && existingSealer?.keyId !== recordedSealingId) {
    throw refuse(`its managed CA sealing key (${MANAGED_CA_SEALING_KEY_FILE}) is ${existingSealer ? `key ${existingSealer.keyId}` : 'missing'}, `
      + `but this database's managed CA keys are sealed with key ${recordedSealingId}: POST /agentCertificates would fail`);
  }
  try {
    await new KyselyManagedCaStore(db, existingSealer ?? noSealingKey).checkSealingKey();
  } catch (error) {
    throw refuse(`${(error as Error).message}: POST /agentCertificates would fail`);
  }

  const now = clock.now();
  if (usesDevIssuer) {
    devSigningKey ??= await loadOrCreateDevSigningKey(dataDir);
    const kid = String(devSigningKey.publicJwk.kid);
    const winner = await recorded.recordIfAbsent('devTokenIssuer', kid, now);
    // Only a concurrent first start with another data dir gets here.
    if (winner !== kid) throw refuse(`another node recorded its dev token signing key ${winner} first; this data dir's is ${kid}`);
  }
  const sealer = existingSealer ?? new AesGcmPrivateKeySealer(await loadOrCreateManagedCaSealingKey(dataDir));
  const winner = await recorded.recordIfAbsent('managedCaSealing', sealer.keyId, now);
  if (winner !== sealer.keyId) throw refuse(`another node recorded its managed CA sealing key ${winner} first; this data dir's is ${sealer.keyId}`);
  return { devSigningKey, sealer };
};
