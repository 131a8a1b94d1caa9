import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { type Clock, systemClock } from '../shared/index.ts';
import { AGENT_TOKEN_TTL_SECONDS, type AgentTokenClaimsInput, type AgentTokenKey, signAgentToken } from './agent-token.ts';

/** Where the keys are kept (the database, sealed: KyselyAgentTokenKeys), so every node signs with and publishes the same keys. */
export interface AgentTokenKeySource {
  list(): Promise<AgentTokenKey[]>;
}

/** How long a node uses its read of the keys (a rotation's lead must be at least this: agent-token-keys.ts). */
export const AGENT_TOKEN_KEY_REFRESH_MS = 10_000;

/** After a key stopped signing, it stays published for a token's lifetime plus this margin (clock skew). */
export const AGENT_TOKEN_KEY_PUBLISH_MARGIN_SECONDS = 300;

const bySigningStart = (a: AgentTokenKey, b: AgentTokenKey): number =>
  a.signsFrom.getTime() - b.signsFrom.getTime() || a.createdAt.getTime() - b.createdAt.getTime() || a.kid.localeCompare(b.kid);

export interface AgentTokenKeysAt {
  /** The key that signs now: the latest whose `signsFrom` has come; undefined before any has. */
  readonly signing: AgentTokenKey | undefined;
  /** The keys the JWKS publishes: the signing one, those not signing yet (a rotation under way),
   *  and older ones until the last token they signed has expired. */
  readonly published: readonly AgentTokenKey[];
  /** Keys whose last token expired long ago: a rotation deletes them. */
  readonly expired: readonly AgentTokenKey[];
}

/** Which key signs, which are published, which may go, at `now` (pure: the rotation rules in one place). */
export const agentTokenKeysAt = (keys: readonly AgentTokenKey[], now: Date): AgentTokenKeysAt => {
  const sorted = [...keys].sort(bySigningStart);
  const nowMs = now.getTime();
  const signing = sorted.filter((key) => key.signsFrom.getTime() <= nowMs).at(-1);
  const published: AgentTokenKey[] = [];
  const expired: AgentTokenKey[] = [];
  sorted.forEach((key, index) => {
    // A key signs until its successor starts; tokens it signed live an hour more.
    const successor = sorted.slice(index + 1).find((next) => next.signsFrom.getTime() <= nowMs);
    const isNeeded = successor === undefined
      || successor.signsFrom.getTime() + (AGENT_TOKEN_TTL_SECONDS + AGENT_TOKEN_KEY_PUBLISH_MARGIN_SECONDS) * 1000 > nowMs;
    (isNeeded ? published : expired).push(key);
  });
  return { signing, published, expired };
};

export interface AgentTokenKeyRingOptions {
  readonly clock?: Clock;
  /** How long a read of the keys is used: a rotation made on another node (or by the CLI) is seen within it. */
  readonly refreshMs?: number;
}

export interface SignedAgentToken {
  readonly token: string;
  readonly kid: string;
  readonly expiresInSeconds: number;
}

/**
 * The agent token keys as a node uses them: signs with the current one, publishes the JWKS.
 * The keys are read from the source at most every `refreshMs` (a rotation starts signing with a
 * new key 30 s after creating it, so by then every node publishes it).
 */
export class AgentTokenKeyRing {
  readonly #source: AgentTokenKeySource;
  readonly #clock: Clock;
  readonly #refreshMs: number;
  #loaded: { readonly atMs: number; readonly keys: Promise<AgentTokenKey[]> } | undefined;
  readonly #privateKeys = new Map<string, KeyObject>();

  constructor(source: AgentTokenKeySource, { clock = systemClock, refreshMs = AGENT_TOKEN_KEY_REFRESH_MS }: AgentTokenKeyRingOptions = {}) {
    this.#source = source;
    this.#clock = clock;
    this.#refreshMs = refreshMs;
  }

  async #keys(): Promise<AgentTokenKey[]> {
    const nowMs = this.#clock.now().getTime();
    if (this.#loaded === undefined || nowMs - this.#loaded.atMs >= this.#refreshMs) {
      const keys = this.#source.list();
      this.#loaded = { atMs: nowMs, keys };
      // A failed read is not kept: the next call reads again.
      keys.catch(() => { if (this.#loaded?.keys === keys) this.#loaded = undefined; });
    }
    return this.#loaded.keys;
  }

  /** Forget the keys read: the next call reads them again (after a rotation on this node). */
  refresh(): void {
    this.#loaded = undefined;
  }

  async sign(claims: Omit<AgentTokenClaimsInput, 'issuedAt'>): Promise<SignedAgentToken & { issuedAt: Date }> {
    const issuedAt = this.#clock.now();
    const { signing } = agentTokenKeysAt(await this.#keys(), issuedAt);
    if (!signing) throw new Error('no agent token signing key is in use yet (the server creates one at start; trustgate agent-token-key list shows them)');
    let privateKey = this.#privateKeys.get(signing.kid);
    if (!privateKey) {
      privateKey = createPrivateKey(signing.privateKeyPem);
      this.#privateKeys.set(signing.kid, privateKey);
    }
    const token = await signAgentToken(privateKey, signing.kid, { ...claims, issuedAt });
    return { token, kid: signing.kid, expiresInSeconds: AGENT_TOKEN_TTL_SECONDS, issuedAt };
  }

  /** The public keys to publish in /.well-known/jwks.json. */
  async publicJwks(): Promise<JWK[]> {
    return agentTokenKeysAt(await this.#keys(), this.#clock.now()).published.map((key) => key.publicJwk);
  }
}
