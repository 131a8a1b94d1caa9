import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Clock, isDomainError, type TenantId } from '../shared/index.ts';
import { createPrivateKey } from 'node:crypto';
import { generateAgentTokenKey, signAgentToken } from './agent-token.ts';
import { cachingTokenVerifier } from './caching-token-verifier.ts';
import { createDevTokenVerifier } from './token-verifier.ts';
import { loadOrCreateDevSigningKey } from './dev-issuer.ts';
import { mintDevToken } from './mint-dev-token.ts';
import type { Principal } from './principal.ts';
import type { TokenVerifier } from './token-verifier.ts';

/** A clock that stands still until the test moves it: expiry is tested without waiting for it. */
const manualClock = (startMs: number): Clock & { set(ms: number): void } => {
  let nowMs = startMs;
  return { now: () => new Date(nowMs), set: (ms) => { nowMs = ms; } };
};

const principal = (tenant: string, expiresAtMs?: number): Principal => ({ tenant: tenant as TenantId, scopes: ['mcmqtt.admin'], subject: undefined, expiresAtMs });

/** An inner verifier that accepts tokens "good-<tenant>[-exp<ms>]", refuses the rest, and counts calls. */
const countingVerifier = () => {
  const calls: string[] = [];
  const verifier: TokenVerifier = {
    async verify(token) {
      calls.push(token);
      const match = /^good-([a-z]+)(?:-exp(\d+))?$/.exec(token);
      if (!match) throw new Error(`refused ${token}`);
      return principal(match[1]!, match[2] === undefined ? undefined : Number(match[2]));
    },
  };
  return { verifier, calls };
};

describe('cachingTokenVerifier', () => {
  it('verifies a token once and answers its repeats from the cache', async () => {
    const { verifier, calls } = countingVerifier();
    const cached = cachingTokenVerifier(verifier, { clock: manualClock(1000) });
    for (let i = 0; i < 5; i += 1) assert.equal((await cached.verify('good-acme')).tenant, 'acme');
    assert.equal((await cached.verify('good-other')).tenant, 'other', 'another token is another entry');
    assert.deepEqual(calls, ['good-acme', 'good-other']);
  });

  it('refuses an agent access token even when the verifier it wraps would accept it (issue 19)', async () => {
    const { verifier, calls } = countingVerifier();
    const cached = cachingTokenVerifier(verifier);
    const key = await generateAgentTokenKey(new Date());
    const token = await signAgentToken(createPrivateKey(key.privateKeyPem), key.kid, { tenant: 'acme', clientId: 'acme_pump-1', jti: 'j', issuedAt: new Date() });
    await assert.rejects(cached.verify(token), (error: unknown) => isDomainError(error) && error.code === 'auth.agentTokenRefused');
    assert.deepEqual(calls, [], 'refused before the wrapped verifier is asked');
  });

  it('never caches a refusal', async () => {
    const { verifier, calls } = countingVerifier();
    const cached = cachingTokenVerifier(verifier);
    for (let i = 0; i < 3; i += 1) await assert.rejects(cached.verify('forged'), /refused forged/);
    assert.equal(calls.length, 3);
  });

  it('checks the token afresh once its exp or the cache age has passed', async () => {
    const { verifier, calls } = countingVerifier();
    let now = 0;
    const cached = cachingTokenVerifier(verifier, { maxAgeMs: 60_000, clock: { now: () => new Date(now) } });
    await cached.verify('good-acme-exp5000');
    now = 4999;
    await cached.verify('good-acme-exp5000');
    assert.equal(calls.length, 1);
    now = 5000;
    await cached.verify('good-acme-exp5000');
    assert.equal(calls.length, 2, 'at exp the inner verifier decides again (and would refuse it)');

    await cached.verify('good-acme');
    now += 59_999;
    await cached.verify('good-acme');
    assert.equal(calls.length, 3);
    now += 1;
    await cached.verify('good-acme');
    assert.equal(calls.length, 4, 'maxAgeMs bounds a token without exp');
  });

  it('keeps at most maxEntries, forgetting the oldest', async () => {
    const { verifier, calls } = countingVerifier();
    const cached = cachingTokenVerifier(verifier, { maxEntries: 2 });
    for (const token of ['good-a', 'good-b', 'good-c', 'good-c', 'good-b', 'good-a']) await cached.verify(token);
    assert.deepEqual(calls, ['good-a', 'good-b', 'good-c', 'good-a']);
  });

  it('with the real dev verifier: an expired token is refused as expired even after it was cached', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trustgate-token-cache-'));
    const key = await loadOrCreateDevSigningKey(dir);
    await rm(dir, { recursive: true, force: true });
    const token = await mintDevToken(key, { tenant: 'acme', scopes: ['mcmqtt.admin'], ttlSeconds: 3 });
    const { iat, exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { iat: number; exp: number };
    // One clock for the cache and the verifier under it, set from the token's own claims.
    const clock = manualClock(iat * 1000);
    const cached = cachingTokenVerifier(createDevTokenVerifier(key.publicJwk, clock), { clock });
    assert.equal((await cached.verify(token)).tenant, 'acme');
    clock.set(exp * 1000 - 1);
    assert.equal((await cached.verify(token)).tenant, 'acme', 'valid until the last millisecond before exp');
    clock.set(exp * 1000);
    await assert.rejects(cached.verify(token), (error: unknown) => isDomainError(error) && error.code === 'auth.tokenExpired');
  });
});
