import type { RegistryEvent, RegistryEventSink } from '../registry/index.ts';

export type RegistryEventListener = (event: RegistryEvent) => void;

// Single-node event bus: delivers registry events to listeners in this process, synchronously and
// in order. A listener's failure is reported, never allowed to fail the use case that published.
export class LocalEventBus implements RegistryEventSink {
  readonly #listeners = new Set<RegistryEventListener>();
  readonly #onListenerError: (error: unknown, event: RegistryEvent) => void;

  constructor(onListenerError: (error: unknown, event: RegistryEvent) => void) {
    this.#onListenerError = onListenerError;
  }

  publish(event: RegistryEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
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
