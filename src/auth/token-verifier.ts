import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWK, type JWTVerifyGetKey } from 'jose';
import { type Clock, DomainError, isDomainError, isTenantId, systemClock } from '../shared/index.ts';
import { refuseAgentToken } from './agent-token.ts';
import { DEV_ALGORITHM, DEV_AUDIENCE, DEV_ISSUER, DEV_TOKEN_MAX_TTL_SECONDS } from './dev-issuer.ts';
import type { Principal } from './principal.ts';
import { parseScopeClaim } from './scopes.ts';

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

// Asymmetric algorithms only: an HS* token could be forged with a public key as the secret
// ("algorithm confusion"), and `none` is never accepted (jose refuses unsecured JWTs in jwtVerify).
const EXTERNAL_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

const invalid = (why: string, remedy: string, cause?: unknown): DomainError =>
  new DomainError('auth.tokenInvalid', `The Bearer token is not valid: ${why}. ${remedy}`, { cause });

const EXTERNAL_REMEDY = 'Get a new token from your identity provider.';
// A dev token signed by another key was nearly always minted from another data dir than the
// server's (a `trustgate token` run elsewhere): say which variable ties the two together.
const DEV_REMEDY = 'Mint one with "trustgate token --tenant <tenant>" where TRUSTGATE_DATA_DIR is this server\'s data dir.';
const DEV_UNKNOWN_KEY = 'its signature does not verify with this server\'s dev issuer key (was it minted from another TRUSTGATE_DATA_DIR than the server\'s?)';

interface VerifyOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: string[];
  /** Seconds of clock difference tolerated for exp/nbf: none for the dev issuer (same machine). */
  readonly clockTolerance: number;
  /** The longest a token may be valid for, from `iat` (or from now, without one) to `exp`. */
  readonly maxLifetimeSeconds?: number;
  /** What "now" is for exp, nbf and the lifetime bound: the system clock, or a test's clock. */
  readonly clock: Clock;
  /** What to do about an invalid token (appended to every auth.tokenInvalid message). */
  readonly remedy: string;
  /** Why a token signed by a key this server does not trust is invalid. */
  readonly unknownKey: string;
}

const verifyWith = (keys: JWTVerifyGetKey, { maxLifetimeSeconds, clock, remedy, unknownKey, ...options }: VerifyOptions): TokenVerifier => {
  const invalidToken = (why: string, cause?: unknown) => invalid(why, remedy, cause);
  // Every token needs an `exp` (README, "Tokens"): one without would be valid for ever. Built
  // once; the getter hands jose the clock's "now" on every verification.
  const joseOptions = { ...options, requiredClaims: ['exp'], get currentDate() { return clock.now(); } };
  return { async verify(token) {
    // Before the signature: an agent token is refused by what it says it is, whichever key signed
    // it — also where the dev issuer's JWKS, or an external IdP setting pointed at it, publishes
    // the agent token keys too (issue 19 part 1; docs/decisions/0033-agent-access-tokens.md).
    refuseAgentToken(token);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, joseOptions));
    } catch (error) {
      if (isDomainError(error)) throw error;
      if (error instanceof errors.JWTExpired) {
        throw new DomainError('auth.tokenExpired', 'The Bearer token has expired. Get a new one.', { cause: error });
      }
      if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf') {
        throw new DomainError('auth.tokenExpired', 'The Bearer token is not valid yet (nbf is in the future). Check the clocks.', { cause: error });
      }
      if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'exp' && error.reason === 'missing') {
        throw invalidToken('it has no "exp" (expiry) claim, and a token must expire', error);
      }
      if (error instanceof errors.JWTClaimValidationFailed) throw invalidToken(`its "${error.claim}" claim is not accepted (${error.reason})`, error);
      if (error instanceof errors.JOSEAlgNotAllowed) throw invalidToken('its signing algorithm is not allowed', error);
      if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey) throw invalidToken(unknownKey, error);
      if (error instanceof errors.JOSEError) throw invalidToken('it is malformed', error);
      throw error;
    }
    if (maxLifetimeSeconds !== undefined) {
      const nowSeconds = clock.now().getTime() / 1000;
      const from = typeof payload.iat === 'number' ? Math.min(payload.iat, nowSeconds) : nowSeconds;
      if (payload.exp! - from > maxLifetimeSeconds) {
        throw invalidToken(`it is valid for longer than the ${maxLifetimeSeconds} s a dev token may be (exp - iat)`);
      }
    }
    if (!isTenantId(payload.ten)) {
      throw new DomainError('auth.tenantInvalid', 'The Bearer token has no valid "ten" (tenant) claim: it must be 1-63 lowercase letters, digits or "-". Ask for a token issued for your tenant.');
    }
    return {
      tenant: payload.ten, scopes: parseScopeClaim(payload.scope), subject: payload.sub,
      expiresAtMs: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
    };
  } };
};

export const createDevTokenVerifier = (publicJwk: JWK, clock: Clock = systemClock): TokenVerifier =>
  verifyWith(createLocalJWKSet({ keys: [publicJwk] }), {
    issuer: DEV_ISSUER, audience: DEV_AUDIENCE, algorithms: [DEV_ALGORITHM], clockTolerance: 0, maxLifetimeSeconds: DEV_TOKEN_MAX_TTL_SECONDS, clock,
    remedy: DEV_REMEDY, unknownKey: DEV_UNKNOWN_KEY,
  });

const identityProviderUnavailable = (cause: unknown): DomainError =>
  new DomainError('auth.identityProviderUnavailable', 'The identity provider\'s signing keys (TRUSTGATE_JWKS_URL) cannot be fetched right now. Try again shortly.', { cause });

// Failures to fetch or read the remote JWKS (timeout, HTTP error, not JSON) are the identity
// provider's, not the caller's: 503, not 401. "No key for this token" stays the token's fault.
const CALLER_FAULTS = [errors.JWKSNoMatchingKey, errors.JWKSMultipleMatchingKeys, errors.JOSEAlgNotAllowed, errors.JOSENotSupported];

export const createExternalTokenVerifier = (options: { jwksUrl: string; issuer: string; audience: string }): TokenVerifier => {
  const remote = createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  const keys: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (CALLER_FAULTS.some((fault) => error instanceof fault)) throw error;
      throw identityProviderUnavailable(error);
    }
  };
  return verifyWith(keys, { issuer: options.issuer, audience: options.audience, algorithms: EXTERNAL_ALGORITHMS, clockTolerance: 30, clock: systemClock,
    remedy: EXTERNAL_REMEDY, unknownKey: 'its signature does not verify with a trusted key' });
};
