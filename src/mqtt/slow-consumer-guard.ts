import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { Client } from 'aedes';
import type { CapHits } from './cap-hits.ts';

// A client that stops reading must not delay anyone else. aedes 1.2 delivers each message through
// a shared emitter (mqemitter, 100 messages at a time for the whole broker) and releases a
// message's slot only when every receiver's write has *drained*; a paused socket held its slots
// until aedes's 60 s drain timeout, and every tenant's deliveries stood still meanwhile.
//
// Here a write never waits for the socket to drain: the slot is released as soon as the packet is
// in the connection's buffer, and the buffer is bounded instead. A connection is disconnected as
// a slow consumer when its unread bytes pass `maxOutgoingBytes` or when they have not drained for
// `timeoutMs`. Replaying a persistent session's queue at CONNECT is not on the shared path and
// keeps its backpressure: it waits for the drain (bounded by the same timeout) before each packet.

export interface SlowConsumerSettings {
  readonly maxOutgoingBytes: number;
  readonly timeoutMs: number;
}

interface DrainingClient {
  readonly id: string | null;
  readonly closed: boolean;
  readonly conn: { readonly writableLength: number; readonly writableHighWaterMark: number; readonly destroyed: boolean; destroy(): void; once(event: 'drain', listener: () => void): unknown; removeListener(event: 'drain', listener: () => void): unknown };
  waitForDrain(done: (error: Error | null, client: unknown) => void): void;
}

export const createSlowConsumerGuard = (settings: SlowConsumerSettings, hits: CapHits) => {
  // One deadline per backed-up connection; none for the others (the common case costs nothing).
  const deadlines = new WeakMap<object, NodeJS.Timeout>();

  const disconnect = (client: DrainingClient, cap: 'outgoingBytes' | 'slowConsumerTimeout', detail: string): void => {
    if (client.conn.destroyed) return;
    hits.hit(cap, { clientId: client.id, unreadBytes: client.conn.writableLength }, `slow consumer disconnected: ${detail}`, true);
    client.conn.destroy();
  };

  function onDeadline(client: DrainingClient): void {
    deadlines.delete(client.conn);
    disconnect(client, 'slowConsumerTimeout', `its pending writes did not drain within ${settings.timeoutMs} ms`);
  }

  function onDrain(this: { client?: DrainingClient }): void {
    const timer = deadlines.get(this);
    if (timer === undefined) return;
    clearTimeout(timer);
    deadlines.delete(this);
  }

  // Replaces aedes's Client#waitForDrain (lib/write.js calls it when a write returns false).
  function waitForDrain(this: DrainingClient, done: (error: Error | null, client: unknown) => void): void {
    const conn = this.conn;
    if (conn.writableLength > settings.maxOutgoingBytes) {
      disconnect(this, 'outgoingBytes', `${conn.writableLength} unread bytes exceed ${settings.maxOutgoingBytes}`);
      setImmediate(done, new Error('slow consumer disconnected'), this);
      return;
    }
    if (!deadlines.has(conn)) {
      const timer = setTimeout(onDeadline, settings.timeoutMs, this);
      timer.unref();
      deadlines.set(conn, timer);
      conn.once('drain', onDrain);
    }
    setImmediate(done, null, this);
  }

  /** What a persistent session gets replayed at CONNECT, one packet per drained buffer. */
  async function* paced(source: AsyncIterable<unknown>, client: DrainingClient): AsyncGenerator<unknown> {
    for await (const packet of source) {
      const conn = client.conn;
      if (conn.writableLength >= conn.writableHighWaterMark) {
        // The deadline armed by waitForDrain ends this wait by closing the connection.
        await Promise.race([once(conn as never, 'drain'), once(conn as never, 'close')]);
        if (client.closed || conn.destroyed) return;
      }
      yield packet;
    }
  }

  return {
    /** For each client right after `broker.handle(socket)`. */
    guard(client: Client): void {
      (client as unknown as DrainingClient).waitForDrain = waitForDrain;
    },
    /** Wraps `persistence.outgoingStream` (the replay of a persistent session's queue). */
    paceOutgoingStream(outgoingStream: (client: unknown) => AsyncIterable<unknown>) {
      return (client: unknown): Readable => {
        const source = outgoingStream(client);
        const draining = client as Partial<DrainingClient>;
        return draining.conn ? Readable.from(paced(source, draining as DrainingClient)) : Readable.from(source);
      };
    },
  };
};

export type SlowConsumerGuard = ReturnType<typeof createSlowConsumerGuard>;
