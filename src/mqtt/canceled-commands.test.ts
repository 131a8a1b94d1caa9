import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CanceledCommands, MAX_CANCELED_IDS } from './canceled-commands.ts';

const packetOf = (id: string, createdAtMs: number) => ({
  topic: 'tc/acme/acme_a/i/cmd_v3/c',
  payload: Buffer.from(JSON.stringify({ id, data: { createdAt: new Date(createdAtMs).toISOString() } })),
});

// The forward filter's memory is bounded (SPEC: no client can grow the broker's memory without
// bound; decision 0034): at most maxIds ids, the oldest forgotten first, each eviction reported.
describe('CanceledCommands', () => {
  it('holds at most maxIds ids, forgets the oldest first and reports how many it forgot', () => {
    const evictions: number[] = [];
    const canceled = new CanceledCommands(60_000, { maxIds: 3, onEvicted: (evicted) => evictions.push(evicted) });
    canceled.add(['a', 'b', 'c'], 1000);
    assert.deepEqual(evictions, []);
    canceled.add(['b', 'd', 'e'], 2000);
    assert.equal(canceled.size, 3);
    assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((id) => canceled.has(id)), [false, false, true, true, true]);
    assert.deepEqual(evictions, [2], 'one report per add, with the count');
  });

  it('stays at its bound under a flood of ids (about 70 bytes each at the default)', () => {
    let evicted = 0;
    const canceled = new CanceledCommands(60_000, { maxIds: 1000, onEvicted: (n) => { evicted += n; } });
    for (let batch = 0; batch < 50; batch += 1) canceled.add(Array.from({ length: 100 }, (_, i) => `id-${batch}-${i}`), 1000 + batch);
    assert.equal(canceled.size, 1000);
    assert.equal(evicted, 4000);
    assert.ok(canceled.has('id-49-99') && !canceled.has('id-0-0'));
    assert.equal(new CanceledCommands(1).maxIds, MAX_CANCELED_IDS);
  });

  it('drops canceled and expired commands; forgets ids after the expiry', () => {
    const canceled = new CanceledCommands(60_000);
    const now = Date.parse('2026-12-03T10:00:00.000Z');
    canceled.add(['c1'], now);
    assert.equal(canceled.isCanceledCommand(packetOf('c1', now), now), true);
    assert.equal(canceled.isCanceledCommand(packetOf('c2', now), now), false);
    assert.equal(canceled.isCanceledCommand(packetOf('c2', now - 60_000), now), true, 'past the expiry by age alone');
    canceled.prune(now + 60_001);
    assert.equal(canceled.has('c1'), false);
  });

  it('reads the clock itself when not given one, and only for a command topic', () => {
    const canceled = new CanceledCommands(60_000);
    assert.equal(canceled.isCanceledCommand(packetOf('fresh', Date.now())), false);
    assert.equal(canceled.isCanceledCommand(packetOf('old', Date.now() - 60_001)), true, 'expired by the current time');
    canceled.add(['c1']);
    assert.equal(canceled.isCanceledCommand(packetOf('c1', Date.now())), true);
    assert.equal(canceled.isCanceledCommand({ ...packetOf('c1', Date.now()), topic: 'tc/acme/acme_a/i/cmd_v3/c/x' }), false, 'not a command topic');
    assert.equal(canceled.isCanceledCommand({ ...packetOf('c1', Date.now()), topic: 'tc/acme/acme_a/o/data' }), false);
  });
});
