import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitUntil } from '../../test/support/wait-until.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import type { RegistryEvent } from './events.ts';
import { publishThroughOutbox, relayTrustEvents } from './relay-trust-events.ts';
import type { TrustEventOutbox } from './trust-event-outbox.ts';

const tenant = 'acme' as TenantId;
const deleted = (n: number): RegistryEvent => ({ type: 'caCertificateDeleted', tenant, caCertificateId: `ca-${n}` as CaCertificateId });

/** The outbox as KyselyTrustEventOutbox behaves, in memory. */
const memoryOutbox = () => {
  const rows: RegistryEvent[] = [];
  const outbox: TrustEventOutbox = {
    async drain(send, limit) {
      let sent = 0;
      for (const event of rows.slice(0, limit)) {
        await send(event);
        rows.shift();
        sent += 1;
      }
      return { sent, dropped: 0 };
    },
    async trim(keep) {
      const excess = Math.max(0, rows.length - keep);
      rows.splice(0, excess);
      return excess;
    },
  };
  return { rows, outbox };
};

/** A bus whose Redis is up or away. */
const fakeBus = () => {
  const state = { isUp: true, relayed: [] as RegistryEvent[], attempts: 0 };
  return {
    state,
    bus: {
      async relay(event: RegistryEvent) {
        state.attempts += 1;
        if (!state.isUp) throw new Error('Redis unreachable');
        state.relayed.push(event);
      },
    },
  };
};

const recordingLog = () => {
  const lines: string[] = [];
  const log = { info: (_: object, msg: string) => lines.push(msg), warn: (_: object, msg: string) => lines.push(msg), error: (_: object, msg: string) => lines.push(msg) };
  return { lines, log };
};

describe('relayTrustEvents', () => {
  it('flush sends what waits and deletes it before it resolves', async () => {
    const { rows, outbox } = memoryOutbox();
    const { state, bus } = fakeBus();
    const relay = relayTrustEvents({ outbox, bus, log: recordingLog().log, pollMs: 60_000 });
    try {
      rows.push(deleted(1), deleted(2));
      await relay.flush(5_000);
      assert.deepEqual(state.relayed, [deleted(1), deleted(2)]);
      assert.deepEqual(rows, []);
    } finally {
      await relay.stop();
    }
  });

  it('sends events another node left without being asked, every pollMs', async () => {
    const { rows, outbox } = memoryOutbox();
    const { state, bus } = fakeBus();
    const relay = relayTrustEvents({ outbox, bus, log: recordingLog().log, pollMs: 50 });
    try {
      await waitUntil(() => state.attempts === 0 && rows.length === 0, 1_000, 'the first pass');
      rows.push(deleted(3));
      await waitUntil(() => state.relayed.length === 1, 2_000, 'the poll sent the event');
      assert.deepEqual(rows, []);
    } finally {
      await relay.stop();
    }
  });

  it('while Redis is away: keeps the events, retries with a growing pause, answers flush at once, and sends them once Redis is back', async () => {
    const { rows, outbox } = memoryOutbox();
    const { state, bus } = fakeBus();
    const { lines, log } = recordingLog();
    const relay = relayTrustEvents({ outbox, bus, log, pollMs: 60_000, retryMinMs: 20, retryMaxMs: 200 });
    try {
      state.isUp = false;
      rows.push(deleted(4));
      await relay.flush(5_000);
      await waitUntil(() => state.attempts >= 4, 3_000, 'several attempts');
      assert.deepEqual(rows, [deleted(4)], 'kept while it could not be sent');
      const startedAt = performance.now();
      await relay.flush(5_000);
      assert.ok(performance.now() - startedAt < 100, 'a flush does not wait while Redis is away');
      assert.equal(lines.filter((line) => line.startsWith('could not send trust events')).length, 1, 'reported once per outage');

      state.isUp = true;
      await waitUntil(() => rows.length === 0, 3_000, 'sent once Redis was back (no new change needed)');
      assert.deepEqual(state.relayed, [deleted(4)]);
      assert.ok(lines.includes('trust events in the outbox sent to the other nodes again'));
    } finally {
      await relay.stop();
    }
  });

  it('bounded: past maxPending, the oldest events are deleted while Redis is away', async () => {
    const { rows, outbox } = memoryOutbox();
    const { state, bus } = fakeBus();
    const { lines, log } = recordingLog();
    state.isUp = false;
    for (let n = 0; n < 25; n++) rows.push(deleted(n));
    const relay = relayTrustEvents({ outbox, bus, log, pollMs: 60_000, maxPending: 10, retryMinMs: 20, retryMaxMs: 50 });
    try {
      await waitUntil(() => rows.length === 10, 3_000, 'trimmed to the bound');
      assert.deepEqual(rows[0], deleted(15), 'the newest are kept');
      assert.ok(lines.some((line) => line.startsWith('trust event outbox full')));
    } finally {
      await relay.stop();
    }
  });

  it('publishThroughOutbox applies on this node, then flushes before the use case answers', async () => {
    const order: string[] = [];
    const sink = publishThroughOutbox(
      { publish: async () => { order.push('applied here'); }, catchUp: async () => true },
      { flush: async () => { order.push('flushed'); } },
    );
    await sink.publish(deleted(1));
    assert.deepEqual(order, ['applied here', 'flushed']);
    assert.equal(await sink.catchUp(10), true);
  });

  it('stop ends the polling and says when events stayed behind', async () => {
    const { rows, outbox } = memoryOutbox();
    const { state, bus } = fakeBus();
    const { lines, log } = recordingLog();
    state.isUp = false;
    rows.push(deleted(1));
    const relay = relayTrustEvents({ outbox, bus, log, pollMs: 20, retryMinMs: 20, retryMaxMs: 20 });
    await waitUntil(() => state.attempts >= 1, 1_000, 'an attempt');
    await relay.stop();
    await relay.stop();
    const attempts = state.attempts;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(state.attempts, attempts, 'no attempt after stop');
    assert.ok(lines.includes('stopped with trust events still in the outbox: any other node, or this one when it starts again, sends them'));
  });
});
