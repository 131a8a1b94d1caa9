import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InMemoryConnectBanStore, type ConnectBan } from './connect-ban-store.ts';
import { MINDCONNECT_RATE_LIMITS } from '../config/index.ts';
import { addressBlockOf, ConnectLimiter, type ConnectLimitPolicy, type LimitVerdict } from './connect-limits.ts';

const codeOf = (verdict: LimitVerdict): string | undefined => verdict.isAllowed ? undefined : verdict.code;

const policy: ConnectLimitPolicy = {
  connectPerClientId: { perSecond: 1, burst: 3 },
  connectPerSourceAddress: { perSecond: 10, burst: 5 },
  ban: { refusals: 4, windowMs: 60_000, banMs: 300_000 },
};

const setUp = () => {
  let now = 1_000_000;
  const bans = new InMemoryConnectBanStore();
  const made: ConnectBan[] = [];
  const limiter = new ConnectLimiter({ policy, bans, now: () => now, onBanned: (ban) => made.push(ban), onStoreError: (error) => { throw error; } });
  return { limiter, bans, made, advance: (ms: number) => { now += ms; }, now: () => now };
};

const pump = { clientId: 'acme_pump-7', credential: 'certificate:aa', sourceAddress: '10.0.0.7' };

test('a client id gets its burst, then one attempt per refill; over it: connectRateLimited', () => {
  const { limiter, advance } = setUp();
  for (let i = 0; i < 3; i += 1) assert.equal(limiter.checkClient(pump).isAllowed, true);
  assert.deepEqual(limiter.checkClient(pump), { isAllowed: false, kind: 'clientId', code: 'mqtt.connectRateLimited' });
  advance(1_000);
  assert.equal(limiter.checkClient(pump).isAllowed, true, 'refilled one');
  assert.equal(limiter.checkClient(pump).isAllowed, false);
});

test('the same client id with another credential is another subject: a spoofer spends only its own bucket', () => {
  const { limiter, made } = setUp();
  const spoofer = { ...pump, credential: 'certificate:bb' };
  for (let i = 0; i < 20; i += 1) limiter.checkClient(spoofer);
  assert.equal(made.length, 1, 'the spoofer is banned');
  assert.equal(made[0]!.credential, 'certificate:bb');
  assert.equal(limiter.checkClient(pump).isAllowed, true, 'the agent is not');
});

test('refusals within the window earn a ban that names the trust reason and the proven tenant; outside the window they start over', () => {
  const { limiter, made, advance, now } = setUp();
  limiter.refused(pump, 'mqtt.certificateRevoked', 'acme');
  limiter.refused(pump, 'mqtt.certificateRevoked', 'acme');
  advance(60_000);
  limiter.refused(pump, 'mqtt.certificateRevoked', 'acme');
  limiter.refused(pump, 'mqtt.certificateRevoked', 'acme');
  limiter.refused(pump, 'mqtt.connectRateLimited');
  assert.equal(made.length, 0, 'the first two were in an earlier window');
  limiter.refused(pump, 'mqtt.connectRateLimited');
  assert.equal(made.length, 1);
  assert.equal(made[0]!.reason, 'mqtt.certificateRevoked');
  assert.equal(made[0]!.tenant, 'acme');
  assert.equal(made[0]!.expiresAt, now() + 300_000);
  assert.equal(codeOf(limiter.checkClient(pump)), 'mqtt.clientBanned');
  // A ban ends: the subject starts with a full bucket.
  advance(300_000);
  for (let i = 0; i < 3; i += 1) assert.equal(limiter.checkClient(pump).isAllowed, true);
});

test('a tenant is proven only for its own client ids; server-side refusals and full quotas never count', () => {
  const { limiter, made } = setUp();
  for (let i = 0; i < 4; i += 1) limiter.refused(pump, 'mqtt.unknownCa', 'other');
  assert.equal(made[0]!.tenant, undefined, 'a certificate of tenant "other" proves nothing about acme_…');
  const quiet = { ...pump, credential: 'certificate:cc' };
  for (let i = 0; i < 10; i += 1) limiter.refused(quiet, 'mqtt.clusterUnavailable');
  for (let i = 0; i < 10; i += 1) limiter.refused(quiet, 'storage.unavailable');
  for (let i = 0; i < 10; i += 1) limiter.refused(quiet, 'mqtt.tenantConnectionLimitReached');
  assert.equal(made.length, 1);
});

test('a source address past its rate is refused before TLS and banned after repeated refusals; trust refusals of clients behind it never ban it', () => {
  const { limiter, made } = setUp();
  for (let i = 0; i < 40; i += 1) limiter.refused({ ...pump, credential: `certificate:${i}` }, 'mqtt.unknownCa');
  assert.equal(made.filter((ban) => ban.kind === 'sourceAddress').length, 0);
  for (let i = 0; i < 5; i += 1) assert.equal(limiter.checkAddress('10.0.0.7').isAllowed, true);
  // Banned once refused more than its allowance for the window (5 + 10 × 60): it sends more than twice its rate.
  for (let i = 0; i < 605; i += 1) assert.equal(codeOf(limiter.checkAddress('10.0.0.7')), 'mqtt.connectRateLimited');
  assert.equal(made.filter((b) => b.kind === 'sourceAddress').length, 1);
  const ban = made.find((b) => b.kind === 'sourceAddress');
  assert.equal(ban?.sourceAddress, '10.0.0.7');
  assert.equal(codeOf(limiter.checkAddress('10.0.0.7')), 'mqtt.clientBanned');
  assert.equal(limiter.checkAddress('10.0.0.8').isAllowed, true, 'another address is not affected');
});

test('a lifted ban lets the subject in at once, with a full bucket; sweeping forgets idle subjects', async () => {
  const { limiter, bans, made, advance } = setUp();
  await bans.start({ onLifted: (ban) => limiter.forgetBan(ban.id) });
  for (let i = 0; i < 10; i += 1) limiter.checkClient(pump);
  assert.equal(codeOf(limiter.checkClient(pump)), 'mqtt.clientBanned');
  assert.equal(await bans.lift(made[0]!.id), true);
  for (let i = 0; i < 3; i += 1) assert.equal(limiter.checkClient(pump).isAllowed, true);
  assert.ok(limiter.trackedSubjects > 0);
  advance(120_000);
  limiter.sweep();
  assert.equal(limiter.trackedSubjects, 0);
});

test('with the default limits, a site of 1,500 agents behind one address that all come back at once gets in at the address\'s rate, never banned', () => {
  let now = 1_000_000;
  const made: ConnectBan[] = [];
  const limiter = new ConnectLimiter({ policy: MINDCONNECT_RATE_LIMITS.mqtt!, bans: new InMemoryConnectBanStore(), now: () => now, onBanned: (ban) => made.push(ban), onStoreError: (error) => { throw error; } });
  // Every agent not let in retries a second later (impatient firmware, no backoff).
  let waiting = 1_500;
  let seconds = 0;
  while (waiting > 0 && seconds < 600) {
    let admitted = 0;
    for (let i = 0; i < waiting; i += 1) if (limiter.checkAddress('203.0.113.50').isAllowed) admitted += 1;
    waiting -= admitted;
    now += 1_000;
    seconds += 1;
  }
  assert.equal(waiting, 0);
  assert.ok(seconds <= 10, `all in within ${seconds} s`);
  assert.equal(made.length, 0, 'the site was never banned');
  // Positive control: an address that keeps sending far past its rate is banned.
  for (let i = 0; i < 20_000 && made.length === 0; i += 1) limiter.checkAddress('198.51.100.66');
  assert.equal(made[0]?.sourceAddress, '198.51.100.66');
});

test('IPv6 addresses are limited per /64 (one subscriber holds a whole /64); IPv4, also IPv4-mapped, per address', () => {
  assert.equal(addressBlockOf('2001:db8:0:1:aaaa:bbbb:cccc:dddd'), '2001:db8:0:1::/64');
  assert.equal(addressBlockOf('2001:db8:0:1::7'), '2001:db8:0:1::/64');
  assert.equal(addressBlockOf('2001:DB8::1'), '2001:db8:0:0::/64');
  assert.equal(addressBlockOf('::1'), '0:0:0:0::/64');
  assert.equal(addressBlockOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressBlockOf('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.equal(addressBlockOf('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressBlockOf('192.0.2.7'), '192.0.2.7');

  const { limiter } = setUp();
  // Burst 5 for the whole /64, whichever of its addresses the attempts come from.
  for (let i = 0; i < 5; i += 1) assert.equal(limiter.checkAddress(`2001:db8:0:1::${(i + 1).toString(16)}`).isAllowed, true);
  assert.equal(codeOf(limiter.checkAddress('2001:db8:0:1:ffff:ffff:ffff:fffe')), 'mqtt.connectRateLimited');
  assert.equal(limiter.checkAddress('2001:db8:0:2::1').isAllowed, true, 'another /64 is not affected');
  for (let i = 0; i < 5; i += 1) assert.equal(limiter.checkAddress('::ffff:192.0.2.7').isAllowed, true);
  assert.equal(limiter.checkAddress('192.0.2.8').isAllowed, true, 'IPv4 addresses are limited one by one');
});
