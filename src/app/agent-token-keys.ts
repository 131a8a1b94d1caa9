import { resolve } from 'node:path';
import type { Kysely } from 'kysely';
import {
  AGENT_TOKEN_SCOPE, type AgentTokenKey, AgentTokenKeyRing, type AgentTokenKeyRingOptions, agentTokenKeysAt, generateAgentTokenKey,
} from '../auth/index.ts';
import { ConfigError, type Config } from '../config/index.ts';
import type { AgentTokenSigner } from '../registry/index.ts';
import type { Clock } from '../shared/index.ts';
import { type Database, KyselyAgentTokenKeys, openDatabase, type PrivateKeySealer } from '../storage/index.ts';
import { loadManagedCaSealingKey, MANAGED_CA_SEALING_KEY_FILE } from './managed-ca-sealing-key.ts';
import { openDataDirKeys } from './open-data-dir-keys.ts';
import { databaseUrlOf } from './start-app.ts';

// Agent access token keys (issue 19 part 1; docs/decisions/0033-agent-access-tokens.md): kept in
// the database, sealed with the data dir's sealing key, so every node signs with and publishes the
// same keys; `trustgate agent-token-key rotate` adds one that signs 30 s later (every node has
// published it by then: the key ring rereads every 10 s), and the previous one stays published
// until the last token it signed has expired.

/** How long after a rotation the new key starts signing, by default: three times the nodes' key reread interval (AGENT_TOKEN_KEY_REFRESH_MS). */
export const AGENT_TOKEN_KEY_ACTIVATION_MS = 30_000;

const storeOf = (db: Kysely<Database>, sealer: PrivateKeySealer) => new KyselyAgentTokenKeys(db, sealer);

/** At start: the key ring, with a first key made if the database has none. */
export const openAgentTokenKeyRing = async (db: Kysely<Database>, sealer: PrivateKeySealer, options: AgentTokenKeyRingOptions & { clock: Clock }): Promise<AgentTokenKeyRing> => {
  const store = storeOf(db, sealer);
  await store.addIfNone(await generateAgentTokenKey(options.clock.now()));
  return new AgentTokenKeyRing({ list: () => store.list() as Promise<AgentTokenKey[]> }, options);
};

/** The use case's signer: the ring's current key, MindConnect's agent scope. */
export const agentTokenSignerOf = (ring: AgentTokenKeyRing): AgentTokenSigner => ({
  async sign(claims) {
    const signed = await ring.sign(claims);
    return { ...signed, scope: [AGENT_TOKEN_SCOPE] };
  },
});

export interface AgentTokenKeyView {
  readonly kid: string;
  readonly createdAt: string;
  readonly signsFrom: string;
  /** signing: signs now; next: signs from `signsFrom`; published: no longer signs, its tokens may still be valid. */
  readonly state: 'signing' | 'next' | 'published';
}

const viewsOf = (keys: readonly AgentTokenKey[], now: Date): AgentTokenKeyView[] => {
  const { signing, published } = agentTokenKeysAt(keys, now);
  return published.map((key) => ({
    kid: key.kid, createdAt: key.createdAt.toISOString(), signsFrom: key.signsFrom.toISOString(),
    state: key === signing ? 'signing' : key.signsFrom > now ? 'next' : 'published',
  }));
};

/** The CLI's access: the server's database and data dir (TRUSTGATE_DATABASE_URL, TRUSTGATE_DATA_DIR), checked as a start checks them. */
const withKeys = async <T>(config: Config, clock: Clock, use: (store: KyselyAgentTokenKeys) => Promise<T>): Promise<T> => {
  const dataDir = resolve(config.storage.dataDir);
  // Nothing is created for a data dir the server never started on (no database, no keys).
  if (await loadManagedCaSealingKey(dataDir) === undefined) {
    throw new ConfigError(`The data dir ${dataDir} (TRUSTGATE_DATA_DIR) has no ${MANAGED_CA_SEALING_KEY_FILE}, which seals the agent token keys: `
      + 'run this where the server\'s TRUSTGATE_DATA_DIR and TRUSTGATE_DATABASE_URL are set, after its first start.');
  }
  const db = await openDatabase({ url: databaseUrlOf(config) });
  try {
    const { sealer } = await openDataDirKeys({ dataDir, db, usesDevIssuer: !config.auth.jwksUrl, clock });
    return await use(storeOf(db, sealer));
  } finally {
    await db.destroy();
  }
};

export const listAgentTokenKeys = (config: Config, clock: Clock): Promise<AgentTokenKeyView[]> =>
  withKeys(config, clock, async (store) => viewsOf(await store.list() as AgentTokenKey[], clock.now()));

export interface RotatedAgentTokenKeys {
  readonly added: AgentTokenKeyView;
  readonly removed: readonly string[];
  readonly keys: readonly AgentTokenKeyView[];
}

/** Adds a key that signs from `now + activateInMs`; removes keys whose last token expired (they are no longer published). */
export const rotateAgentTokenKey = (config: Config, clock: Clock, activateInMs: number = AGENT_TOKEN_KEY_ACTIVATION_MS): Promise<RotatedAgentTokenKeys> =>
  withKeys(config, clock, async (store) => {
    const now = clock.now();
    const key = await generateAgentTokenKey(now, new Date(now.getTime() + activateInMs));
    await store.add(key);
    const keys = await store.list() as AgentTokenKey[];
    const removed = agentTokenKeysAt(keys, now).expired.map((each) => each.kid);
    await store.remove(removed);
    const views = viewsOf(keys, now);
    return { added: views.find((view) => view.kid === key.kid)!, removed, keys: views };
  });
