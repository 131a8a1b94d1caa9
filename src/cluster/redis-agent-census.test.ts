import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { deleteKeysUnder, TEST_REDIS_URL, uniqueRedisPrefix } from '../../test/support/redis-helpers.ts';
import { testNeeding, unavailable } from '../../test/support/test-services.ts';
import { RedisAgentCensus } from './redis-agent-census.ts';

const redisMissing = unavailable('redis');
let redis: Redis;
let prefix: string;

before(async () => {
  if (redisMissing) return;
  prefix = uniqueRedisPrefix('agent-census');
  redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  await redis.connect();
});
after(async () => {
  if (redisMissing) return;
  await deleteKeysUnder(redis, prefix);
  await redis.quit();
});

testNeeding('redis')('each node hears the other nodes\' connected agents per tenant, never its own; a closed node\'s counts vanish', async () => {
  const logger = pino({ level: 'silent' });
  const countsA = new Map([['t', 2], ['u', 1]]);
  const countsB = new Map([['t', 3]]);
  const nodeA = new RedisAgentCensus(redis, prefix, 'a', logger);
  const nodeB = new RedisAgentCensus(redis, prefix, 'b', logger);
  await nodeA.start(() => countsA);
  await nodeB.start(() => countsB);
  await nodeA.report();
  assert.equal(nodeA.othersConnected('t'), 3);
  assert.equal(nodeB.othersConnected('t'), 2);
  assert.equal(nodeB.othersConnected('u'), 1);
  assert.equal(nodeA.othersConnected('u'), 0);
  countsB.set('t', 0);
  await nodeB.report();
  await nodeA.report();
  assert.equal(nodeA.othersConnected('t'), 0, 'a count that went down is heard');
  await nodeA.close();
  await nodeB.report();
  assert.equal(nodeB.othersConnected('t'), 0, 'a closed node takes its counts along');
  await nodeB.close();
});

testNeeding('redis')('a report finds the other nodes without walking the keyspace (no SCAN: a cluster\'s Redis holds every session\'s keys)', async () => {
  const logger = pino({ level: 'silent' });
  const nodePrefix = `${prefix}noscan:`;
  const nodeA = new RedisAgentCensus(redis, nodePrefix, 'a', logger);
  const nodeB = new RedisAgentCensus(redis, nodePrefix, 'b', logger);
  const scan = redis.scan.bind(redis);
  let scans = 0;
  redis.scan = ((...args: Parameters<typeof scan>) => { scans += 1; return scan(...args); }) as typeof redis.scan;
  try {
    await nodeA.start(() => new Map([['t', 4]]));
    await nodeB.start(() => new Map([['t', 1]]));
    await nodeA.report();
    assert.equal(nodeA.othersConnected('t'), 1, 'positive control: the other node is heard');
    assert.equal(nodeB.othersConnected('t'), 4);
    assert.equal(scans, 0);
  } finally {
    redis.scan = scan as typeof redis.scan;
    await nodeA.close();
    await nodeB.close();
  }
  assert.equal(await redis.exists(`${nodePrefix}limits:agentNodes`), 0, 'the last node to close leaves no set behind');
});
