import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { TEST_REDIS_URL, uniqueRedisPrefix } from '../../test/support/redis-helpers.ts';
import { RedisQuotaLedger } from './redis-quota-ledger.ts';
import { testNeeding, unavailable } from '../../test/support/test-services.ts';

const redisMissing = unavailable('redis');

// Against the real Redis, under a key prefix of its own (as the backplane's session connection).
let redis: Redis;
let prefix: string;

before(async () => {
  if (redisMissing) return;
  prefix = uniqueRedisPrefix('quota-ledger');
  redis = new Redis(TEST_REDIS_URL, { keyPrefix: prefix, lazyConnect: true });
  await redis.connect();
});
after(async () => {
  if (redisMissing) return;
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(prefix.length)));
  await redis.quit();
});

testNeeding('redis')('persistent sessions: client ids minted past the tenant cap are refused on every node; resuming is free; a cleaned session frees its place', async () => {
  const logger = pino({ level: 'silent' });
  const nodeA = new RedisQuotaLedger(redis, logger);
  const nodeB = new RedisQuotaLedger(redis, logger);
  assert.equal(await nodeA.claimSession('t', 't_a', 2), 'ok');
  assert.equal(await nodeB.claimSession('t', 't_b', 2), 'ok');
  assert.equal(await nodeA.claimSession('t', 't_c', 2), 'persistentSessionsPerTenant');
  assert.equal(await nodeB.claimSession('t', 't_c', 2), 'persistentSessionsPerTenant', 'the other node sees the same count');
  assert.equal(await nodeB.claimSession('t', 't_a', 2), 'ok', 'resuming a session it holds, on another node');
  assert.equal(await nodeA.claimSession('u', 'u_a', 2), 'ok', 'another tenant has its own count');

  // Two nodes racing for the last place: exactly one takes it.
  await nodeA.sessionCleaned('t_b');
  const race = await Promise.all([nodeA.claimSession('t', 't_x', 2), nodeB.claimSession('t', 't_y', 2)]);
  assert.deepEqual([...race].sort(), ['ok', 'persistentSessionsPerTenant']);

  // A session stored before the count existed (in aedes-persistence-redis' `clients` set) is resumed, not refused.
  await redis.sadd('clients', 't_old');
  assert.equal(await nodeA.claimSession('t', 't_old', 2), 'ok');
  assert.equal(await redis.sismember(`quota:sessions:t`, 't_old'), 1, 'and counted from now on');

  // The clean's reset still does its queue part: the session's and its tenant's queued counts.
  await redis.set('quota:queued:t_old', 3);
  await redis.set('quota:queued-tenant:t', 5);
  await nodeB.sessionCleaned('t_old');
  assert.equal(await redis.get('quota:queued-tenant:t'), '2');
  assert.equal(await redis.exists('quota:queued:t_old'), 0);
  assert.equal(await redis.sismember('quota:sessions:t', 't_old'), 0);
});
