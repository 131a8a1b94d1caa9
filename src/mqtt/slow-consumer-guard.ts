import type { Aedes, Client } from 'aedes';
import type { CapHits } from './cap-hits.ts';

// A client that stops reading must not delay anyone else. aedes 1.2 delivers each message through
// a shared emitter (mqemitter: 100 messages at a time for the whole broker) and frees a message's
// slot only once every receiver's write has *drained*; a paused socket held its slots until
// aedes's 60 s drain timeout, and every tenant's deliveries stood still meanwhile.
//
// Two changes. (1) A subscription's delivery gives its emitter slot back at once: the write goes
// on for that one receiver alone (aedes's setImmediate + write, unchanged), so no receiver can
// hold a slot. (2) What a receiver has not read is bounded: a connection is disconnected as a
// slow consumer when its unread bytes pass `maxOutgoingBytes` or when a write has waited
// `timeoutMs` for the buffer to drain. The bulk writes of one client — its persistent session's
// queue replayed at CONNECT, the retained messages of its SUBSCRIBE — still wait for each drain
// (aedes streams them through a transform), which is their backpressure; they never held slots.

export interface SlowConsumerSettings {
  readonly maxOutgoingBytes: number;
  readonly timeoutMs: number;
}

type Deliver = (packet: object, done: () => void) => void;
type DrainCallback = (error: Error | null, client: unknown) => void;

interface GuardedClient {
  readonly id: string | null;
  readonly conn: { readonly writableLength: number; readonly destroyed: boolean; destroy(): void };
  waitForDrain(done: DrainCallback): void;
  _handleDrainTimeout(): void;
}

interface SubscribingBroker {
  subscribe(topic: string, deliver: Deliver, done?: () => void): void;
  unsubscribe(topic: string, deliver: Deliver, done?: () => void): void;
  opts: { drainTimeout: number };
}

const noop = (): void => undefined;

export const createSlowConsumerGuard = (broker: Aedes, settings: SlowConsumerSettings, hits: CapHits) => {
  const subscribing = broker as unknown as SubscribingBroker;
  // aedes reads its drain timeout from the options at every wait (Client#waitForDrain).
  subscribing.opts.drainTimeout = settings.timeoutMs;

  // (1) One wrapper per subscription (aedes makes one delivery function per client and filter);
  // per message it costs one nextTick, no allocation of ours. The tick, not a direct call, keeps
  // mqemitter from recursing through its queue.
  const released = new WeakMap<Deliver, Deliver>();
  const subscribe = subscribing.subscribe.bind(broker);
  const unsubscribe = subscribing.unsubscribe.bind(broker);
  subscribing.subscribe = (topic, deliver, done) => {
    let releasing = released.get(deliver);
    if (!releasing) {
      releasing = function deliverAndRelease(packet: object, slotDone: () => void): void {
        deliver(packet, noop);
        process.nextTick(slotDone);
      };
      released.set(deliver, releasing);
    }
    subscribe(topic, releasing, done);
  };
  subscribing.unsubscribe = (topic, deliver, done) => unsubscribe(topic, released.get(deliver) ?? deliver, done);

  // (2) The bounds, on aedes's own drain wait (lib/write.js calls it when a write returns false).
  let waitForDrain: ((this: GuardedClient, done: DrainCallback) => void) | undefined;
  let handleDrainTimeout: ((this: GuardedClient) => void) | undefined;

  function waitForDrainBounded(this: GuardedClient, done: DrainCallback): void {
    const unread = this.conn.writableLength;
    if (unread > settings.maxOutgoingBytes) {
      if (!this.conn.destroyed) {
        hits.hit('outgoingBytes', { clientId: this.id, unreadBytes: unread, limit: settings.maxOutgoingBytes },
          `slow consumer disconnected: ${unread} unread bytes exceed ${settings.maxOutgoingBytes}`, true);
        this.conn.destroy();
      }
      setImmediate(done, new Error('slow consumer disconnected'), this);
      return;
    }
    waitForDrain!.call(this, done);
  }

  function handleDrainTimeoutLogged(this: GuardedClient): void {
    if (!this.conn.destroyed) {
      hits.hit('slowConsumerTimeout', { clientId: this.id, unreadBytes: this.conn.writableLength, limit: settings.timeoutMs },
        `slow consumer disconnected: its pending writes did not drain within ${settings.timeoutMs} ms`, true);
    }
    handleDrainTimeout!.call(this);
  }

  return {
    /** For each client right after `broker.handle(socket)`. */
    guard(client: Client): void {
      const guarded = client as unknown as GuardedClient;
      const prototype = Object.getPrototypeOf(guarded) as GuardedClient;
      waitForDrain ??= prototype.waitForDrain;
      handleDrainTimeout ??= prototype._handleDrainTimeout;
      guarded.waitForDrain = waitForDrainBounded;
      guarded._handleDrainTimeout = handleDrainTimeoutLogged;
    },
  };
};

export type SlowConsumerGuard = ReturnType<typeof createSlowConsumerGuard>;
