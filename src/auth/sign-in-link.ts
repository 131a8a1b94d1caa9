import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// The console's sign-in link for a new user without a terminal (issue 17, "Done when";
// docs/decisions/0026-console-without-build-step.md): with the local dev issuer only, the server
// makes one random code at start and prints `…/console/#signin=<code>`. The page trades the code,
// once, for a dev admin token. A code copied from a log after that, or after its hour, is worth
// nothing; the token itself is never printed.

/** What a code is traded for: a dev admin token for the link's tenant. */
export interface SignInLink {
  /** The code for the printed URL (256 random bits, base64url). */
  readonly code: string;
  readonly tenant: string;
  readonly expiresAt: Date;
  /** The token for a right, unused, unexpired code; undefined otherwise. A right code is spent
   *  before the token is minted, so two concurrent trades cannot both win. */
  redeem(code: string): Promise<string | undefined>;
}

export interface SignInLinkOptions {
  readonly tenant: string;
  readonly ttlMs: number;
  readonly now: () => Date;
  readonly mint: (tenant: string) => Promise<string>;
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export const createSignInLink = ({ tenant, ttlMs, now, mint }: SignInLinkOptions): SignInLink => {
  const code = randomBytes(32).toString('base64url');
  // Only its hash is kept for comparing: equal lengths for timingSafeEqual, whatever was sent.
  const expected = digest(code);
  const expiresAt = new Date(now().getTime() + ttlMs);
  let isSpent = false;
  return {
    code, tenant, expiresAt,
    async redeem(candidate) {
      if (isSpent || now().getTime() >= expiresAt.getTime() || !timingSafeEqual(digest(candidate), expected)) return undefined;
      isSpent = true;
      return mint(tenant);
    },
  };
};
