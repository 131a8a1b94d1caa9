import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSignInLink } from './sign-in-link.ts';

describe('the console\'s one-time sign-in link', () => {
  const make = (at: { now: number }) => {
    const minted: string[] = [];
    const link = createSignInLink({
      tenant: 'default', ttlMs: 60_000, now: () => new Date(at.now),
      mint: async (tenant) => { minted.push(tenant); return `token-${minted.length}`; },
    });
    return { link, minted };
  };

  test('a 256-bit base64url code, traded once; a wrong or empty code mints nothing and does not spend it', async () => {
    const { link, minted } = make({ now: 0 });
    assert.match(link.code, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(await link.redeem('wrong'), undefined);
    assert.equal(await link.redeem(''), undefined);
    assert.equal(await link.redeem(`${link.code}x`), undefined);
    assert.equal(await link.redeem(link.code.slice(0, -1)), undefined);
    assert.deepEqual(minted, []);
    assert.equal(await link.redeem(link.code), 'token-1');
    assert.equal(await link.redeem(link.code), undefined, 'spent');
    assert.deepEqual(minted, ['default']);
  });

  test('two trades of the right code at the same moment: one token', async () => {
    const { link, minted } = make({ now: 0 });
    const answers = await Promise.all([link.redeem(link.code), link.redeem(link.code), link.redeem(link.code)]);
    assert.deepEqual(answers.filter(Boolean), ['token-1']);
    assert.equal(minted.length, 1);
  });

  test('after its time the right code is refused', async () => {
    const at = { now: 1_000 };
    const { link, minted } = make(at);
    assert.equal(link.expiresAt.getTime(), 61_000);
    at.now = 61_000;
    assert.equal(await link.redeem(link.code), undefined);
    assert.deepEqual(minted, []);
  });

  test('two servers (or two starts) never print the same code', () => {
    assert.notEqual(make({ now: 0 }).link.code, make({ now: 0 }).link.code);
  });
});
