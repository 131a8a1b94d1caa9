import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './tables.ts';
import type { PrivateKeySealer } from './private-key-sealer.ts';

/** An agent token signing key as stored (structurally auth's AgentTokenKey; storage does not import auth). */
export interface StoredAgentTokenKey {
  readonly kid: string;
  readonly publicJwk: { readonly kid?: string; readonly [name: string]: unknown };
  readonly privateKeyPem: string;
  readonly createdAt: Date;
  readonly signsFrom: Date;
}

// The sealed value is bound to its row: a key copied to another kid does not open.
const contextOf = (kid: string): string => `agent-token-key:${kid}`;

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

// The public half is published as the JWKS (/.well-known/jwks.json) and is not sealed: whoever can
// write the table could put a key of their own under a kid, and every consumer of agent tokens
// would trust what they sign (security review of decision 0033). So it must be the public half of
// the sealed private key, under the row's kid, with no private member: else the row was altered.
const checkedPublicJwk = (kid: string, stored: StoredAgentTokenKey['publicJwk'], privateKeyPem: string): StoredAgentTokenKey['publicJwk'] => {
  const derived: JsonWebKey = createPublicKey(createPrivateKey(privateKeyPem)).export({ format: 'jwk' });
  const matches = stored.kid === kid && (['kty', 'crv', 'x', 'y'] as const).every((member) => stored[member] === derived[member])
    && !PRIVATE_MEMBERS.some((member) => member in stored);
  if (!matches) throw new Error(`the stored public key of agent token key ${kid} is not the public half of its sealed private key: the row was altered`);
  return stored;
};

/** The agent token signing keys in the database (issue 19 part 1; decision 0033), private halves sealed. */
export class KyselyAgentTokenKeys {
  readonly #db: Kysely<Database>;
  readonly #sealer: PrivateKeySealer;

  constructor(db: Kysely<Database>, sealer: PrivateKeySealer) {
    this.#db = db;
    this.#sealer = sealer;
  }

  async list(): Promise<StoredAgentTokenKey[]> {
    const rows = await this.#db.selectFrom('agent_token_keys').selectAll().orderBy('signs_from').orderBy('kid').execute();
    return rows.map((row) => {
      const privateKeyPem = this.#sealer.open(row.sealed_private_key, contextOf(row.kid));
      return {
        kid: row.kid,
        publicJwk: checkedPublicJwk(row.kid, JSON.parse(row.public_jwk) as StoredAgentTokenKey['publicJwk'], privateKeyPem),
        privateKeyPem,
        createdAt: new Date(row.created_at),
        signsFrom: new Date(row.signs_from),
      };
    });
  }

  async add(key: StoredAgentTokenKey): Promise<void> {
    await this.#db.insertInto('agent_token_keys').values({
      kid: key.kid, public_jwk: JSON.stringify(key.publicJwk), sealed_private_key: this.#sealer.seal(key.privateKeyPem, contextOf(key.kid)),
      created_at: key.createdAt.toISOString(), signs_from: key.signsFrom.toISOString(),
    }).execute();
  }

  /** Adds `key` only if the table is empty (a first start; of two concurrent first starts both may add: both keys are then published). */
  async addIfNone(key: StoredAgentTokenKey): Promise<boolean> {
    const existing = await this.#db.selectFrom('agent_token_keys').select('kid').limit(1).executeTakeFirst();
    if (existing) return false;
    await this.add(key);
    return true;
  }

  async remove(kids: readonly string[]): Promise<void> {
    if (kids.length > 0) await this.#db.deleteFrom('agent_token_keys').where('kid', 'in', [...kids]).execute();
  }
}
