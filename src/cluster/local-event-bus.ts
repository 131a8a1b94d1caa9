import type { RegistryEvent, RegistryEventSink } from '../registry/index.ts';

export type RegistryEventListener = (event: RegistryEvent) => void | Promise<void>;

// Single-node event bus: delivers registry events to this process's listeners in subscription
// order and resolves when all have finished. A listener's failure is reported, never allowed to
// fail the use case that published.
export class LocalEventBus implements RegistryEventSink {
  readonly #listeners = new Set<RegistryEventListener>();
  readonly #onListenerError: (error: unknown, event: RegistryEvent) => void;

  constructor(onListenerError: (error: unknown, event: RegistryEvent) => void) {
    this.#onListenerError = onListenerError;
  }

  async publish(event: RegistryEvent): Promise<void> {
    for (const listener of this.#listeners) {
      try {
        await listener(event);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }

  subscribe(listener: RegistryEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
