import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'aedes';
import type { TenantId } from '../shared/index.ts';
import type { BrokerPrincipal, SessionExpiry } from './broker-principal.ts';
import { assertNotExpired, SessionDeadlines } from './session-deadlines.ts';

const client = () => ({}) as Client;
const application = (expiry?: SessionExpiry): BrokerPrincipal =>
  ({ kind: 'application', tenant: 'acme' as TenantId, clientId: 'acme_app', mayPublish: true, ...(expiry ? { expiry } : {}) });
const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('SessionDeadlines', () => {
  it('closes a session once its deadline has passed, and not before', async () => {
    const expired: string[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code) });
    deadlines.track(client(), application({ atMs: Date.now() + 30, code: 'auth.tokenExpired' }));
    assert.deepEqual(expired, []);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(expired, ['auth.tokenExpired']);
    assert.equal(deadlines.size, 0);
  });

  it('closes at once a session whose deadline passed before it was tracked', () => {
    const expired: string[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code) });
    deadlines.track(client(), application({ atMs: Date.now() - 1, code: 'mqtt.caExpired' }));
    assert.deepEqual(expired, ['mqtt.caExpired']);
  });

  it('a deadline beyond setTimeout\'s 2^31-1 ms (a one-year certificate) does not fire early', async () => {
    const expired: string[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code) });
    deadlines.track(client(), application({ atMs: Date.now() + 365 * 86_400_000, code: 'mqtt.certificateExpired' }));
    await nextTurn();
    assert.deepEqual(expired, []);
    assert.equal(deadlines.size, 1);
    deadlines.close();
  });

  it('re-arms a deadline the first timer did not reach (the clock says it is not yet due)', async () => {
    const expired: string[] = [];
    let now = 0;
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code), nowMs: () => now });
    deadlines.track(client(), application({ atMs: 10, code: 'auth.tokenExpired' }));
    await nextTurn(); // the 10 ms timer fired, but the clock still says 0: re-armed
    assert.deepEqual(expired, []);
    now = 10;
    await nextTurn();
    assert.deepEqual(expired, ['auth.tokenExpired']);
  });

  it('forgets a session that disconnected, and ignores one admitted without a deadline', async () => {
    const expired: string[] = [];
    const deadlines = new SessionDeadlines({ onExpired: (_c, _p, expiry) => expired.push(expiry.code) });
    const leaving = client();
    deadlines.track(leaving, application({ atMs: Date.now() + 10, code: 'auth.tokenExpired' }));
    deadlines.untrack(leaving);
    deadlines.track(client(), application());
    await nextTurn();
    assert.deepEqual(expired, []);
    assert.equal(deadlines.size, 0);
  });

  it('assertNotExpired refuses a principal whose deadline passed during its admission, with that code', () => {
    assert.throws(() => assertNotExpired(application({ atMs: 1000, code: 'auth.tokenExpired' }), 1000), { code: 'auth.tokenExpired' });
    assertNotExpired(application({ atMs: 1001, code: 'auth.tokenExpired' }), 1000);
    assertNotExpired(application(), 1000);
  });
});
