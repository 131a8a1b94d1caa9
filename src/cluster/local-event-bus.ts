import type { ClusterBus, RegistryEvent, RegistryEventListener, ResyncHandler, StoredRecord } from '../registry/index.ts';

// Single-node event bus: delivers registry events to this process's listeners in subscription
// order and resolves when all have finished. A listener's failure is reported, never allowed to
// fail the use case that published. With no other node there is nothing to connect to, to catch
// up with or to resync from.
export class LocalEventBus implements ClusterBus {
  readonly #listeners = new Set<RegistryEventListener>();
  readonly #onListenerError: (error: unknown, event: RegistryEvent) => void;

  constructor(onListenerError: (error: unknown, event: RegistryEvent) => void) {
    this.#onListenerError = onListenerError;
  }

  async publish(event: RegistryEvent, stored?: StoredRecord): Promise<void> {
    for (const listener of this.#listeners) {
      try {
        await listener(event, stored);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }

  /** Nothing to send: a single node's use cases applied their events before they answered, and
   *  no other node exists. The outbox rows are deleted, so the table stays empty (decision 0019). */
  async relay(_event: RegistryEvent): Promise<void> {}

  subscribe(listener: RegistryEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every event of a single node is delivered before `publish` resolves: none can be missing. */
  async catchUp(_boundMs: number): Promise<boolean> {
    return false;
  }

  onResync(_handler: ResyncHandler): () => void {
    return () => undefined;
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {}

  readiness(): undefined {
    return undefined;
  }
}
