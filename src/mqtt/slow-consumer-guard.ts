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
  /** Unread bytes of all of a tenant's connections that are waiting for a drain. */
  readonly maxOutgoingBytesPerTenant: number;
  readonly timeoutMs: number;
}

type Deliver = (packet: object, done: () => void) => void;
type DrainCallback = (error: Error | null, client: unknown) => void;

interface GuardedConnection {
  readonly writableLength: number;
  readonly destroyed: boolean;
  destroy(): void;
  once(event: 'drain' | 'close', listener: (this: GuardedConnection) => void): unknown;
  removeListener(event: 'drain' | 'close', listener: (this: GuardedConnection) => void): unknown;
}

interface GuardedClient {
  readonly id: string | null;
  readonly conn: GuardedConnection;
  waitForDrain(done: DrainCallback): void;
  _handleDrainTimeout(): void;
}

interface SubscribingBroker {
  subscribe(topic: string, deliver: Deliver, done?: () => void): void;
  unsubscribe(topic: string, deliver: Deliver, done?: () => void): void;
  opts: { drainTimeout: number };
}

const noop = (): void => undefined;

export const createSlowConsumerGuard = (broker: Aedes, settings: SlowConsumerSettings, hits: CapHits, tenantOf: (client: Client) => string | undefined) => {
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

  // Per tenant: the unread bytes of its connections that wait for a drain, as each last reported
  // them (a connection that drains or closes takes its share out). Connections that keep up,
  // the common case, are never in here.
  const unreadByTenant = new Map<string, number>();
  const waiting = new WeakMap<GuardedConnection, { readonly tenant: string; bytes: number }>();

  function forget(this: GuardedConnection): void {
    const share = waiting.get(this);
    if (!share) return;
    waiting.delete(this);
    this.removeListener('drain', forget);
    this.removeListener('close', forget);
    const left = (unreadByTenant.get(share.tenant) ?? 0) - share.bytes;
    if (left > 0) unreadByTenant.set(share.tenant, left);
    else unreadByTenant.delete(share.tenant);
  }

  const disconnect = (client: GuardedClient, cap: 'outgoingBytes' | 'outgoingBytesPerTenant', unread: number, limit: number, detail: string): void => {
    if (client.conn.destroyed) return;
    hits.hit(cap, { clientId: client.id, unreadBytes: unread, limit }, `slow consumer disconnected: ${detail}`, true);
    client.conn.destroy();
  };

  function waitForDrainBounded(this: GuardedClient, done: DrainCallback): void {
    const conn = this.conn;
    const unread = conn.writableLength;
    if (unread > settings.maxOutgoingBytes) {
      disconnect(this, 'outgoingBytes', unread, settings.maxOutgoingBytes, `${unread} unread bytes exceed ${settings.maxOutgoingBytes}`);
      setImmediate(done, new Error('slow consumer disconnected'), this);
      return;
    }
    const tenant = tenantOf(this as unknown as Client);
    if (tenant !== undefined) {
      let share = waiting.get(conn);
      const tenantUnread = (unreadByTenant.get(tenant) ?? 0) - (share?.bytes ?? 0) + unread;
      if (tenantUnread > settings.maxOutgoingBytesPerTenant) {
        // The connection that would push its tenant past the cap goes, not the tenant's others.
        disconnect(this, 'outgoingBytesPerTenant', unread, settings.maxOutgoingBytesPerTenant,
          `its tenant's waiting connections would hold ${tenantUnread} unread bytes, over ${settings.maxOutgoingBytesPerTenant}`);
        setImmediate(done, new Error('slow consumer disconnected'), this);
        return;
      }
      if (!share) {
        waiting.set(conn, share = { tenant, bytes: 0 });
        conn.once('drain', forget);
        conn.once('close', forget);
      }
      share.bytes = unread;
      unreadByTenant.set(tenant, tenantUnread);
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
