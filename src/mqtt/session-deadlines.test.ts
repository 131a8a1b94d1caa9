import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'aedes';
import type { TenantId } from '../shared/index.ts';
import type { BrokerPrincipal, SessionExpiry } from './broker-principal.ts';
import { assertNotExpired, SessionDeadlines } from './session-deadlines.ts';

// The timers and the clock are node:test's mock timers: each deadline is reached by ticking the
// clock, so "not before" and "not at all" are exact, not a matter of how long the test waited.

const client = () => ({}) as Client;
const application = (expiry?: SessionExpiry): BrokerPrincipal =>
  ({ kind: 'application', tenant: 'acme' as TenantId, clientId: 'acme_app', mayPublish: true, ...(expiry ? { expiry } : {}) });
const MAX_TIMER_MS = 2 ** 31 - 1;

describe('SessionDeadlines', () => {
  it('closes a session once its deadline has passed, and not before', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const expired: string[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code) });
    deadlines.track(client(), application({ atMs: Date.now() + 30, code: 'auth.tokenExpired' }));
    assert.deepEqual(expired, []);
    t.mock.timers.tick(29);
    assert.deepEqual(expired, [], 'not before its deadline');
    t.mock.timers.tick(1);
    assert.deepEqual(expired, ['auth.tokenExpired']);
    assert.equal(deadlines.size, 0);
  });

  it('closes at once a session whose deadline passed before it was tracked', () => {
    const expired: string[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code) });
    deadlines.track(client(), application({ atMs: Date.now() - 1, code: 'mqtt.caExpired' }));
    assert.deepEqual(expired, ['mqtt.caExpired']);
  });

  it('a deadline beyond setTimeout\'s 2^31-1 ms (a one-year certificate) does not fire early', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const yearMs = 365 * 86_400_000;
    const expired: string[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code) });
    deadlines.track(client(), application({ atMs: Date.now() + yearMs, code: 'mqtt.certificateExpired' }));
    t.mock.timers.tick(MAX_TIMER_MS); // the first timer fires here and re-arms
    assert.deepEqual(expired, []);
    assert.equal(deadlines.size, 1);
    t.mock.timers.tick(yearMs - MAX_TIMER_MS - 1);
    assert.deepEqual(expired, [], 'not a millisecond early');
    t.mock.timers.tick(1);
    assert.deepEqual(expired, ['mqtt.certificateExpired']);
    deadlines.close();
  });

  it('re-arms a deadline the first timer did not reach (the clock says it is not yet due)', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const expired: string[] = [];
    let now = 0;
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code), nowMs: () => now });
    deadlines.track(client(), application({ atMs: 10, code: 'auth.tokenExpired' }));
    t.mock.timers.tick(10); // the 10 ms timer fired, but the clock still says 0: re-armed
    assert.deepEqual(expired, []);
    assert.equal(deadlines.size, 1);
    now = 10;
    t.mock.timers.tick(10);
    assert.deepEqual(expired, ['auth.tokenExpired']);
  });

  it('forgets a session that disconnected, and ignores one admitted without a deadline', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const expired: string[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code) });
    const leaving = client();
    deadlines.track(leaving, application({ atMs: Date.now() + 10, code: 'auth.tokenExpired' }));
    deadlines.untrack(leaving);
    deadlines.track(client(), application());
    t.mock.timers.tick(60_000); // well past the forgotten deadline
    assert.deepEqual(expired, []);
    assert.equal(deadlines.size, 0);
  });

  it('one timer for many sessions: each closes at its own deadline, in order, a re-tracked one at its new deadline only', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const expired: string[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (c) => expired.push((c as unknown as { name: string }).name) });
    const named = (name: string) => ({ name }) as unknown as Client;
    const [a, b, c, d] = [named('a'), named('b'), named('c'), named('d')];
    const at = (ms: number) => application({ atMs: 1_000_000 + ms, code: 'auth.tokenExpired' });
    deadlines.track(c, at(30));
    deadlines.track(a, at(10));
    deadlines.track(d, at(40));
    deadlines.track(b, at(20));
    deadlines.track(d, at(15)); // replaces its 40
    t.mock.timers.tick(9);
    assert.deepEqual(expired, []);
    t.mock.timers.tick(1);
    assert.deepEqual(expired, ['a']);
    t.mock.timers.tick(5);
    assert.deepEqual(expired, ['a', 'd']);
    deadlines.untrack(b); // the next one due: skipped, and the timer goes on to c
    t.mock.timers.tick(14);
    assert.deepEqual(expired, ['a', 'd']);
    t.mock.timers.tick(1);
    assert.deepEqual(expired, ['a', 'd', 'c']);
    t.mock.timers.tick(60_000);
    assert.deepEqual(expired, ['a', 'd', 'c'], 'd\'s replaced deadline never fires');
    assert.equal(deadlines.size, 0);
  });

  it('sessions that left are not held (the heap is rebuilt), and the ones still tracked keep their deadlines', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const expired: Client[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (c) => expired.push(c) });
    const staying = Array.from({ length: 10 }, () => client());
    for (const [i, c] of staying.entries()) deadlines.track(c, application({ atMs: 1_000_000 + 1_000 + i, code: 'auth.tokenExpired' }));
    for (let i = 0; i < 1_000; i += 1) {
      const leaving = client();
      deadlines.track(leaving, application({ atMs: 1_000_000 + 10 + i, code: 'auth.tokenExpired' }));
      deadlines.untrack(leaving);
    }
    assert.equal(deadlines.size, 10);
    t.mock.timers.tick(999);
    assert.deepEqual(expired, []);
    t.mock.timers.tick(10);
    assert.deepEqual(expired, staying);
    assert.equal(deadlines.size, 0);
  });

  it('assertNotExpired refuses a principal whose deadline passed during its admission, with that code', () => {
    assert.throws(() => assertNotExpired(application({ atMs: 1000, code: 'auth.tokenExpired' }), 1000), { code: 'auth.tokenExpired' });
    assertNotExpired(application({ atMs: 1001, code: 'auth.tokenExpired' }), 1000);
    assertNotExpired(application(), 1000);
  });
});
