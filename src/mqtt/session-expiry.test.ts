import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InMemorySessionClocks, SessionExpiry } from './session-expiry.ts';

const expiryWith = (connected: Set<string>, failing = new Set<string>()) => {
  let now = 1_000_000;
  const expired: string[] = [];
  const errors: string[] = [];
  const expiry = new SessionExpiry({
    expiryMs: 60_000,
    clocks: new InMemorySessionClocks(),
    now: () => now,
    isConnectedHere: (id) => connected.has(id),
    expire: async (id) => {
      if (failing.has(id)) throw new Error('redis away');
      expired.push(id);
    },
    onExpired: () => undefined,
    onError: (_error, id) => { if (id) errors.push(id); },
  });
  return { expiry, expired, errors, advance: (ms: number) => { now += ms; } };
};

test('a persistent session expires once its client has been away longer than the expiry, not before, and only once', async () => {
  const { expiry, expired, advance } = expiryWith(new Set());
  expiry.clientLeft('t_a');
  advance(59_999);
  await expiry.sweep();
  assert.deepEqual(expired, []);
  advance(1);
  await expiry.sweep();
  await expiry.sweep();
  assert.deepEqual(expired, ['t_a']);
});

test('a client that came back stops its session\'s clock; leaving again restarts it', async () => {
  const connected = new Set<string>();
  const { expiry, expired, advance } = expiryWith(connected);
  expiry.clientLeft('t_back');
  expiry.clientLeft('t_here');
  expiry.clientBack('t_back');
  connected.add('t_here'); // connected on this node without the event seen yet
  advance(120_000);
  await expiry.sweep();
  assert.deepEqual(expired, []);
  expiry.clientLeft('t_back');
  advance(30_000);
  await expiry.sweep();
  assert.deepEqual(expired, [], 'the clock started again at the second leave');
});

test('a session that could not be deleted is tried again at the next sweep', async () => {
  const failing = new Set(['t_flaky']);
  const { expiry, expired, errors, advance } = expiryWith(new Set(), failing);
  expiry.clientLeft('t_flaky');
  advance(60_000);
  await expiry.sweep();
  assert.deepEqual([expired, errors], [[], ['t_flaky']]);
  failing.clear();
  await expiry.sweep();
  assert.deepEqual(expired, ['t_flaky']);
});
