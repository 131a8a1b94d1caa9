import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { HandshakeDeadlines } from './handshake-deadlines.ts';

// node:test's mock timers: each deadline is reached by ticking the clock, so "not before" is exact.

const socket = (name: string) => ({ name }) as unknown as Socket;
const named = (sockets: Socket[]) => sockets.map((s) => (s as unknown as { name: string }).name);

describe('HandshakeDeadlines', () => {
  it('ends each handshake that outlives the timeout, in accept order, and not before', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const timedOut: Socket[] = [];
    const deadlines = new HandshakeDeadlines({ timeoutMs: 100, onTimeout: (s) => timedOut.push(s) });
    deadlines.start(socket('a'));
    t.mock.timers.tick(40);
    deadlines.start(socket('b'));
    t.mock.timers.tick(59);
    assert.deepEqual(named(timedOut), [], 'a is not late before 100 ms');
    t.mock.timers.tick(1);
    assert.deepEqual(named(timedOut), ['a']);
    t.mock.timers.tick(39);
    assert.deepEqual(named(timedOut), ['a'], 'b only 100 ms after its own accept');
    t.mock.timers.tick(1);
    assert.deepEqual(named(timedOut), ['a', 'b']);
    assert.equal(deadlines.size, 0);
  });

  it('a finished, failed or closed handshake is never timed out, whatever came before or after it', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const timedOut: Socket[] = [];
    const deadlines = new HandshakeDeadlines({ timeoutMs: 100, onTimeout: (s) => timedOut.push(s) });
    const [a, b, c] = [socket('a'), socket('b'), socket('c')];
    deadlines.start(a);
    deadlines.start(b);
    t.mock.timers.tick(10);
    deadlines.start(c);
    deadlines.end(a);
    deadlines.end(a);
    t.mock.timers.tick(200);
    assert.deepEqual(named(timedOut), ['b', 'c']);
  });

  it('re-arms for later sockets after the queue ran empty, and close() stops it', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const timedOut: Socket[] = [];
    const deadlines = new HandshakeDeadlines({ timeoutMs: 100, onTimeout: (s) => timedOut.push(s) });
    const a = socket('a');
    deadlines.start(a);
    deadlines.end(a);
    t.mock.timers.tick(150);
    deadlines.start(socket('b'));
    t.mock.timers.tick(100);
    assert.deepEqual(named(timedOut), ['b']);
    deadlines.start(socket('c'));
    deadlines.close();
    t.mock.timers.tick(1_000);
    assert.deepEqual(named(timedOut), ['b']);
    assert.equal(deadlines.size, 0);
  });
});
