import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isDomainError, type TenantId } from '../shared/index.ts';
import { cachingTokenVerifier } from './caching-token-verifier.ts';
import { createDevTokenVerifier } from './token-verifier.ts';
import { loadOrCreateDevSigningKey } from './dev-issuer.ts';
import { mintDevToken } from './mint-dev-token.ts';
import type { Principal } from './principal.ts';
import type { TokenVerifier } from './token-verifier.ts';

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
    const cached = cachingTokenVerifier(verifier, { nowMs: () => 1000 });
    for (let i = 0; i < 5; i += 1) assert.equal((await cached.verify('good-acme')).tenant, 'acme');
    assert.equal((await cached.verify('good-other')).tenant, 'other', 'another token is another entry');
    assert.deepEqual(calls, ['good-acme', 'good-other']);
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
    const cached = cachingTokenVerifier(verifier, { maxAgeMs: 60_000, nowMs: () => now });
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
    // exp has whole seconds: a 3 s token is still valid for over 2 s, also on a loaded machine.
    const token = await mintDevToken(key, { tenant: 'acme', scopes: ['mcmqtt.admin'], ttlSeconds: 3 });
    const cached = cachingTokenVerifier(createDevTokenVerifier(key.publicJwk));
    assert.equal((await cached.verify(token)).tenant, 'acme');
    await new Promise((resolve) => setTimeout(resolve, 4100));
    await assert.rejects(cached.verify(token), (error: unknown) => isDomainError(error) && error.code === 'auth.tokenExpired');
  });
});
