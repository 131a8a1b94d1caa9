import type { RegistryEvent } from './events.ts';

/**
 * The trust events not yet handed to the cluster bus: written in the transaction of the change
 * itself (storage: triggers), so an event exists exactly when its change committed, whichever
 * node (or hand-run SQL) made it, and survives that node being stopped or killed before it could
 * send it (decision 0019).
 */
export interface TrustEventOutbox {
  /**
   * Hands the oldest pending events (at most `limit`), oldest first, to `send`, one at a time, and
   * deletes each one once `send` resolved for it; at the first rejection it deletes those sent and
   * rejects with that error. An event `send` resolved for may still be sent again if this node
   * dies before the deletion commits (at least once). Drains of several nodes never overlap: one
   * waits for the other (PostgreSQL: a lock held by the drain's transaction, released if its node
   * dies). Resolves how many events were sent and how many rows were dropped as unreadable.
   */
  drain(send: (event: RegistryEvent) => Promise<void>, limit: number): Promise<{ readonly sent: number; readonly dropped: number }>;
  /** Deletes the oldest events beyond the newest `keep`; resolves how many it deleted. */
  trim(keep: number): Promise<number>;
}
