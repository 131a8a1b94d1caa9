import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { Clock } from '../shared/index.ts';
import { AGENT_TOKEN_ISSUER, type AgentTokenKey, generateAgentTokenKey } from './agent-token.ts';
import { AGENT_TOKEN_KEY_PUBLISH_MARGIN_SECONDS, AgentTokenKeyRing, agentTokenKeysAt } from './agent-token-key-ring.ts';

// Issue 19 part 1: rotation. A new key is published before it signs; the previous one stays
// published until the last token it signed has expired (an hour, plus a margin for clocks).

const T0 = Date.parse('2026-12-03T12:00:00Z');
const at = (ms: number): Date => new Date(T0 + ms);
const MINUTE = 60_000;
const HOUR = 3_600_000;
const kidsOf = (keys: readonly AgentTokenKey[]): string[] => keys.map((key) => key.kid);

describe('agentTokenKeysAt: which key signs and which are published', () => {
  const key = (kid: string, createdMs: number, signsFromMs = createdMs): AgentTokenKey =>
    ({ kid, publicJwk: { kid }, privateKeyPem: '', createdAt: at(createdMs), signsFrom: at(signsFromMs) });
  const a = key('a', 0);
  const b = key('b', 2 * HOUR, 2 * HOUR + MINUTE);
  const c = key('c', 2 * HOUR + 30 * MINUTE, 2 * HOUR + 31 * MINUTE);
  const margin = AGENT_TOKEN_KEY_PUBLISH_MARGIN_SECONDS * 1000;
  const cases: [string, AgentTokenKey[], number, string | undefined, string[], string[]][] = [
    ['no key', [], 0, undefined, [], []],
    ['one key', [a], 0, 'a', ['a'], []],
    ['a key not signing yet (created before its start)', [key('x', 0, MINUTE)], 0, undefined, ['x'], []],
    ['a rotation under way: the old key signs, both are published', [b, a], 2 * HOUR, 'a', ['a', 'b'], []],
    ['the new key signs; the old one is published for its tokens', [a, b], 2 * HOUR + MINUTE, 'b', ['a', 'b'], []],
    ['until an hour and the margin after it stopped signing', [a, b], 3 * HOUR + MINUTE + margin - 1, 'b', ['a', 'b'], []],
    ['then it may go', [a, b], 3 * HOUR + MINUTE + margin, 'b', ['b'], ['a']],
    ['two rotations within the hour: all three published', [a, b, c], 2 * HOUR + 31 * MINUTE, 'c', ['a', 'b', 'c'], []],
  ];
  for (const [name, keys, nowMs, signing, published, expired] of cases) {
    it(name, () => {
      const result = agentTokenKeysAt(keys, at(nowMs));
      assert.equal(result.signing?.kid, signing);
      assert.deepEqual(kidsOf(result.published), published);
      assert.deepEqual(kidsOf(result.expired), expired);
    });
  }
});

describe('AgentTokenKeyRing', () => {
  const clockAt = (ms: number): Clock & { ms: number } => {
    const clock = { ms, now: () => at(clock.ms) };
    return clock;
  };

  it('signs with the current key; after a rotation the new key signs and a token of the old key still verifies against the published keys until its exp', async () => {
    const clock = clockAt(0);
    const keys: AgentTokenKey[] = [await generateAgentTokenKey(at(0))];
    let reads = 0;
    const ring = new AgentTokenKeyRing({ list: async () => { reads += 1; return [...keys]; } }, { clock, refreshMs: 30_000 });
    const first = await ring.sign({ tenant: 'acme', clientId: 'acme_pump-1', jti: 'j1' });
    assert.equal(first.kid, keys[0]!.kid);
    assert.equal(decodeProtectedHeader(first.token).kid, keys[0]!.kid);

    // A rotation (as `trustgate agent-token-key rotate` does it): the new key signs a minute later.
    clock.ms = 10 * MINUTE;
    keys.push(await generateAgentTokenKey(at(10 * MINUTE), at(11 * MINUTE)));
    assert.equal((await ring.sign({ tenant: 'acme', clientId: 'acme_pump-1', jti: 'j2' })).kid, keys[0]!.kid, 'not signing before its time');
    assert.deepEqual((await ring.publicJwks()).map((jwk) => jwk.kid), kidsOf(keys), 'both published once read');

    clock.ms = 11 * MINUTE;
    const second = await ring.sign({ tenant: 'acme', clientId: 'acme_pump-1', jti: 'j3' });
    assert.equal(second.kid, keys[1]!.kid);
    const published = createLocalJWKSet({ keys: await ring.publicJwks() });
    // The first token, replayed after the rotation: valid until its own exp.
    for (const token of [first.token, second.token]) {
      await jwtVerify(token, published, { issuer: AGENT_TOKEN_ISSUER, algorithms: ['ES256'], currentDate: at(59 * MINUTE) });
    }
    await assert.rejects(jwtVerify(first.token, published, { issuer: AGENT_TOKEN_ISSUER, algorithms: ['ES256'], currentDate: at(60 * MINUTE) }), /exp/);
    assert.ok(reads >= 2 && reads <= 3, `keys reread at most every refreshMs (${reads} reads)`);
  });

  it('rereads the keys after refreshMs and after a failed read; has no key to sign with before the first', async () => {
    const clock = clockAt(0);
    let fail = true;
    const key = await generateAgentTokenKey(at(0));
    let reads = 0;
    const ring = new AgentTokenKeyRing({ list: async () => { reads += 1; if (fail) throw new Error('database down'); return [key]; } }, { clock, refreshMs: 30_000 });
    await assert.rejects(ring.publicJwks(), /database down/);
    fail = false;
    assert.equal((await ring.publicJwks()).length, 1, 'a failed read is not kept');
    await ring.publicJwks();
    assert.equal(reads, 2);
    clock.ms = 30_000;
    await ring.publicJwks();
    assert.equal(reads, 3);
    const empty = new AgentTokenKeyRing({ list: async () => [] }, { clock });
    await assert.rejects(empty.sign({ tenant: 'acme', clientId: 'acme_x', jti: 'j' }), /no agent token signing key/);
  });
});
