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
  /** Connects to the other nodes, if any; events are delivered from here on. */
  start(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
  /** For /readyz: 'ok' or why trust changes from other nodes are not received now; undefined
   *  when there is nothing to check (a single node). */
  readiness(): string | undefined;
}
