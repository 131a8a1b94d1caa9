import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './load-config.ts';

const PG = 'postgres://trustgate@db:5432/trustgate';

// The cluster settings: every bad combination is refused at start with a message naming the fix.
describe('loadConfig: cluster settings', () => {
  it('defaults to a single node: no Redis, node id from the host name, 5 s drain', () => {
    const { cluster } = loadConfig({});
    assert.equal(cluster.redisUrl, undefined);
    assert.equal(cluster.nodeId, undefined);
    assert.equal(cluster.redisPrefix, 'trustgate:');
    assert.equal(cluster.drainMs, 5000);
    assert.equal(cluster.convergenceMs, 5000);
  });

  it('accepts a cluster on PostgreSQL and Redis', () => {
    const { cluster, storage } = loadConfig({ TRUSTGATE_DATABASE_URL: PG, TRUSTGATE_REDIS_URL: 'rediss://:secret@redis:6380/2', TRUSTGATE_NODE_ID: 'node-1_a' });
    assert.equal(storage.databaseUrl, PG);
    assert.equal(cluster.redisUrl, 'rediss://:secret@redis:6380/2');
    assert.equal(cluster.nodeId, 'node-1_a');
  });

  const refused: [string, Record<string, string>, RegExp][] = [
    ['Redis without a database URL (SQLite cannot be shared)', { TRUSTGATE_REDIS_URL: 'redis://redis:6379' }, /TRUSTGATE_REDIS_URL.*needs TRUSTGATE_DATABASE_URL=postgres/],
    ['Redis with a SQLite file', { TRUSTGATE_REDIS_URL: 'redis://redis:6379', TRUSTGATE_DATABASE_URL: 'sqlite:/var/lib/tg.db' }, /cannot be shared/],
    ['a Redis URL of another scheme', { TRUSTGATE_DATABASE_URL: PG, TRUSTGATE_REDIS_URL: 'http://redis:6379' }, /TRUSTGATE_REDIS_URL.*redis:\/\/ or rediss:\/\//],
    ['a node id with a dot (it separates node and session in session ids)', { TRUSTGATE_NODE_ID: 'node.1' }, /TRUSTGATE_NODE_ID.*1 to 31/],
    ['a node id too long for agents.session_id', { TRUSTGATE_NODE_ID: 'n'.repeat(32) }, /TRUSTGATE_NODE_ID/],
    ['a prefix with a space', { TRUSTGATE_REDIS_PREFIX: 'my prefix' }, /TRUSTGATE_REDIS_PREFIX/],
    ['a negative drain', { TRUSTGATE_DRAIN_MS: '-1' }, /TRUSTGATE_DRAIN_MS/],
    ['a convergence check more often than every 100 ms (a database read per node each time)', { TRUSTGATE_CLUSTER_CONVERGENCE_MS: '50' }, /TRUSTGATE_CLUSTER_CONVERGENCE_MS/],
    // Workers are cluster nodes (decision 0031): without Redis a CA deleted through one would not close the others' sessions.
    ['several workers on SQLite without Redis', { TRUSTGATE_WORKERS: '2' }, /TRUSTGATE_WORKERS=2 .*needs TRUSTGATE_REDIS_URL and TRUSTGATE_DATABASE_URL=postgres/],
    ['several workers on PostgreSQL without Redis', { TRUSTGATE_WORKERS: '2', TRUSTGATE_DATABASE_URL: PG }, /TRUSTGATE_WORKERS=2 .*needs TRUSTGATE_REDIS_URL/],
    ['no workers', { TRUSTGATE_WORKERS: '0' }, /TRUSTGATE_WORKERS="0" must be a whole number from 1 to 64/],
    ['more than 64 workers', { TRUSTGATE_WORKERS: '65' }, /TRUSTGATE_WORKERS/],
    ['a node id with no room for the worker suffix', { TRUSTGATE_WORKERS: '10', TRUSTGATE_DATABASE_URL: PG, TRUSTGATE_REDIS_URL: 'redis://redis:6379', TRUSTGATE_NODE_ID: 'n'.repeat(29) },
      /TRUSTGATE_NODE_ID=.* too long for 10 workers: each is named <TRUSTGATE_NODE_ID>-w<i>.*use at most 28/],
  ];
  it('accepts several workers on PostgreSQL and Redis; one is the default', () => {
    assert.equal(loadConfig({}).cluster.workers, 1);
    const { cluster } = loadConfig({ TRUSTGATE_WORKERS: '4', TRUSTGATE_DATABASE_URL: PG, TRUSTGATE_REDIS_URL: 'redis://redis:6379', TRUSTGATE_NODE_ID: 'n'.repeat(28) });
    assert.equal(cluster.workers, 4);
  });

  for (const [name, env, message] of refused) {
    it(`refuses ${name}`, () => {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    });
  }
});

describe('loadConfig: TLS groups', () => {
  it('defaults to Node\'s own list (unset) and keeps a list in order, commas as colons', () => {
    assert.equal(loadConfig({}).tls.groups, undefined);
    assert.equal(loadConfig({ TRUSTGATE_TLS_GROUPS: ' X25519MLKEM768, X25519 ,P-256' }).tls.groups, 'X25519MLKEM768:X25519:P-256');
  });
  for (const [name, value] of [['a group OpenSSL does not know', 'X25519:NoSuchGroup'], ['a name with a space or quote', 'X25519 P-256\'']] as const) {
    it(`refuses ${name}`, () => {
      assert.throws(() => loadConfig({ TRUSTGATE_TLS_GROUPS: value }), (error: unknown) => error instanceof ConfigError && /TRUSTGATE_TLS_GROUPS/.test(error.message));
    });
  }
});
