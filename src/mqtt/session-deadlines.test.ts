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

  it('assertNotExpired refuses a principal whose deadline passed during its admission, with that code', () => {
    assert.throws(() => assertNotExpired(application({ atMs: 1000, code: 'auth.tokenExpired' }), 1000), { code: 'auth.tokenExpired' });
    assertNotExpired(application({ atMs: 1001, code: 'auth.tokenExpired' }), 1000);
    assertNotExpired(application(), 1000);
  });
});
