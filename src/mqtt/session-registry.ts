import type { Client } from 'aedes';
import type { BrokerPrincipal } from './broker-principal.ts';

// Who is connected, by principal, so that withdrawn trust closes exactly the affected sessions.
export class SessionRegistry {
  readonly #principals = new WeakMap<Client, BrokerPrincipal>();
  readonly #clients = new Set<Client>();

  attach(client: Client, principal: BrokerPrincipal): void {
    this.#principals.set(client, principal);
    this.#clients.add(client);
  }

  detach(client: Client): BrokerPrincipal | undefined {
    this.#clients.delete(client);
    return this.#principals.get(client);
  }

  principalOf(client: Client): BrokerPrincipal | undefined {
    return this.#principals.get(client);
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Closes every session whose principal matches; returns how many. */
  closeWhere(matches: (principal: BrokerPrincipal) => boolean): number {
    let closed = 0;
    for (const client of this.#clients) {
      const principal = this.#principals.get(client);
      if (principal && matches(principal)) {
        this.#clients.delete(client);
        client.close();
        closed += 1;
      }
    }
    return closed;
  }
}
