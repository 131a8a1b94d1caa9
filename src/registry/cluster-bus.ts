import type { RegistryEvent, StoredRecord } from './events.ts';
import type { RegistryEventSink } from './ports.ts';

/** Gets each event once, with the stored record when a use case of this node published it. */
export type RegistryEventListener = (event: RegistryEvent, stored?: StoredRecord) => void | Promise<void>;

/** Rebuilds what this node derives from events (trust index, live sessions) from the store. */
export type ResyncHandler = () => Promise<void> | void;

/** How this node hears the registry's events: its own, and in a cluster the other nodes'. */
export interface RegistryEventFeed {
  subscribe(listener: RegistryEventListener): () => void;
  /** Runs `handler` each time this node may have missed events (a cluster node whose subscription
   *  was down and is back); a single node never misses one, so it never runs there. */
  onResync(handler: ResyncHandler): () => void;
}

/**
 * The event bus between the registry's use cases and what follows their events, on one node or
 * across a cluster. Its two implementations (cluster/: in-process, Redis) are chosen once, by
 * configuration; nothing else tells them apart.
 */
export interface ClusterBus extends RegistryEventSink, RegistryEventFeed {
  /**
   * Sends an event taken from the trust event outbox to every node (decision 0019) and resolves
   * once the transport took it; rejects at once when it cannot take it now (Redis away), so the
   * outbox keeps the event for the next attempt. The other nodes, and this one after the
   * transport took it, apply it as an event read back from the store: sending one twice is
   * harmless. A single node has no other node: its use cases applied the event before answering,
   * so this resolves at once.
   */
  relay(event: RegistryEvent): Promise<void>;
  /** Connects to the other nodes, if any; events are delivered from here on. */
  start(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
  /** For /readyz: 'ok' or why trust changes from other nodes are not received now; undefined
   *  when there is nothing to check (a single node). */
  readiness(): string | undefined;
}
