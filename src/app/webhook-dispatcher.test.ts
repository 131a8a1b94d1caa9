import assert from 'node:assert/strict';
import { it } from 'node:test';
import { nextAttemptAfter } from './webhook-dispatcher.ts';
import { signWebhookBody } from './post-webhook.ts';
import { createHmac } from 'node:crypto';

// Backoff: doubling from the base, jittered down by at most half, capped at an hour, never past the
// event's maximum age (then failed).

it('retries back off exponentially with jitter, until the maximum age', () => {
  const createdAt = new Date('2026-12-03T00:00:00Z');
  const base = { createdAt, retryBaseMs: 10_000, maxAgeMs: 86_400_000 };
  const delay = (attempts: number, random: number, now = createdAt) =>
    nextAttemptAfter({ ...base, attempts, now, random: () => random })!.getTime() - now.getTime();
  assert.equal(delay(1, 1), 10_000);
  assert.equal(delay(1, 0), 5_000);
  assert.equal(delay(4, 1), 80_000);
  assert.equal(delay(40, 1), 3_600_000);
  const late = new Date(createdAt.getTime() + 86_400_000 - 1000);
  assert.equal(delay(30, 1, late), 1000, 'the last attempt at the maximum age');
  assert.equal(nextAttemptAfter({ ...base, attempts: 31, now: new Date(createdAt.getTime() + 86_400_000), random: () => 1 }), undefined);
});

it('signs "<t>.<raw body>" with HMAC-SHA256', () => {
  const body = '{"id":"x"}';
  assert.equal(signWebhookBody('k'.repeat(16), body, 1_764_720_000), `t=1764720000,v1=${createHmac('sha256', 'k'.repeat(16)).update(`1764720000.${body}`).digest('hex')}`);
});
