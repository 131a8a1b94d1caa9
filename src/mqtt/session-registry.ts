import type { Client } from 'aedes';
import type { BrokerPrincipal } from './broker-principal.ts';
import { markDisconnect, type DisconnectReason } from './disconnect-reasons.ts';

type PrincipalMatcher = (principal: BrokerPrincipal) => boolean;

// Enough to cover every admission in flight: one takes milliseconds, withdrawals are rare.
const WITHDRAWALS_KEPT = 1024;

// Who is connected, by principal, so that withdrawn trust closes exactly the affected sessions.
// An admission checks trust, then writes the agent record, then attaches: a withdrawal that lands
// in between would miss the not-yet-attached session, so withdrawals are numbered and kept, and
// `attach` replays those that happened since the admission began.
export class SessionRegistry {
  readonly #principals = new WeakMap<Client, BrokerPrincipal>();
  readonly #clients = new Set<Client>();
  readonly #withdrawals: { readonly epoch: number; readonly matches: PrincipalMatcher }[] = [];
  #epoch = 0;

  /** Call before checking trust; pass the result to `attach`. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Attaches the session, or closes it and answers false if trust was withdrawn since `epoch`. */
  attach(client: Client, principal: BrokerPrincipal, epoch: number): boolean {
    const isWithdrawn = this.#withdrawals.some((w) => w.epoch > epoch && w.matches(principal))
      || (this.#withdrawals.length === WITHDRAWALS_KEPT && (this.#withdrawals[0]?.epoch ?? 0) > epoch + 1);
    if (isWithdrawn) return false;
    this.#principals.set(client, principal);
    this.#clients.add(client);
    return true;
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

  /** Every attached principal, at this moment. */
  principals(): BrokerPrincipal[] {
    return [...this.#clients].flatMap((client) => this.#principals.get(client) ?? []);
  }

  /** Closes up to `count` attached sessions (any), without recording a withdrawal: for draining.
   *  Returns the client ids closed. */
  closeSome(count: number, reason: DisconnectReason = 'drain'): string[] {
    const closed: string[] = [];
    for (const client of this.#clients) {
      if (closed.length >= count) break;
      this.#clients.delete(client);
      markDisconnect(client, reason);
      client.close();
      closed.push(client.id);
    }
    return closed;
  }

  /** Closes every session whose principal matches, now and for admissions in flight; returns
   *  the client ids closed. */
  closeWhere(matches: PrincipalMatcher, detail?: string): string[] {
    this.#epoch += 1;
    this.#withdrawals.push({ epoch: this.#epoch, matches });
    if (this.#withdrawals.length > WITHDRAWALS_KEPT) this.#withdrawals.shift();
    const closed: string[] = [];
    for (const client of this.#clients) {
      const principal = this.#principals.get(client);
      if (principal && matches(principal)) {
        this.#clients.delete(client);
        markDisconnect(client, 'trustWithdrawn', detail);
        client.close();
        closed.push(client.id);
      }
    }
    return closed;
  }
}
