import { hash } from 'node:crypto';
import { type Clock, systemClock } from '../shared/index.ts';
import { refuseAgentToken } from './agent-token.ts';
import type { Principal } from './principal.ts';
import type { TokenVerifier } from './token-verifier.ts';

export interface TokenCacheOptions {
  /** Verified tokens remembered at most; the oldest is forgotten first. */
  readonly maxEntries?: number;
  /** How long a verification is reused, at most: bounds how long a token outlives a removed
   *  signing key (JWKS rotation). Never past the token's own `exp`. */
  readonly maxAgeMs?: number;
  /** The system clock, or a test's clock that it moves forward instead of waiting. */
  readonly clock?: Clock;
}

// Clients send the same Bearer token with every request until it expires; verifying its signature
// each time was the largest share of a GET's CPU (ECDSA verify through WebCrypto). Only successful
// verifications are kept, keyed by the token's SHA-256, so a cache entry cannot be reached without
// the whole token and a refused token is checked afresh every time (docs/decisions/0012-performance-targets-on-node-tls.md, "REST").
export const cachingTokenVerifier = (inner: TokenVerifier, options: TokenCacheOptions = {}): TokenVerifier => {
  const { maxEntries = 10_000, maxAgeMs = 60_000, clock = systemClock } = options;
  const verified = new Map<string, { readonly principal: Principal; readonly validUntilMs: number }>();
  return {
    async verify(token) {
      // The one-shot hash: no Hash object per request (the same digest as createHash's).
      const key = hash('sha256', token, 'base64url');
      const startedMs = clock.now().getTime();
      const hit = verified.get(key);
      if (hit && startedMs < hit.validUntilMs) return hit.principal;
      if (hit) verified.delete(key);
      // Also here, whatever verifier is wrapped: an agent's access token never opens a tenant API
      // (issue 19 part 1; decision 0033). Before every verification, so never in the cache: a
      // hit skips it (a decode of header and payload, ~8 µs measured, against ~1 µs for a hit).
      refuseAgentToken(token);
      const principal = await inner.verify(token);
      const validUntilMs = Math.min(startedMs + maxAgeMs, principal.expiresAtMs ?? Number.POSITIVE_INFINITY);
      verified.set(key, { principal, validUntilMs });
      if (verified.size > maxEntries) verified.delete(verified.keys().next().value!);
      return principal;
    },
  };
};
