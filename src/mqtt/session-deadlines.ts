import type { Client } from 'aedes';
import { DomainError } from '../shared/index.ts';
import type { BrokerPrincipal, SessionExpiry } from './broker-principal.ts';

// A session lives no longer than what admitted it — the application's token
// (`exp`), the agent's certificate or its CA (notAfter, whichever comes first). Admission refuses
// them from that instant on (no clock-skew allowance after notAfter or exp for the dev issuer; an
// identity provider's 30 s tolerance is not extended to a live session either); this closes the
// sessions already open, each node its own.
//
// One timer per session, armed when aedes registers the client and cleared when it leaves: a
// setTimeout and a map entry per connection, nothing on the message path. Node timers hold at most
// 2^31-1 ms (~24.8 days; a longer delay fires at once), so a later deadline re-arms on the way.

const MAX_TIMER_MS = 2 ** 31 - 1;

const messages: Record<SessionExpiry['code'], string> = {
  'auth.tokenExpired': 'The Bearer token has expired. Connect again with a new one.',
  'mqtt.certificateExpired': 'The agent certificate has expired. Issue a new one.',
  'mqtt.caExpired': 'The issuing CA certificate has expired. Register a current CA and reissue the agent certificate.',
};

/** Refuses a CONNECT whose token or certificate expired while it was being admitted. */
export const assertNotExpired = (principal: BrokerPrincipal, nowMs: number): void => {
  if (principal.expiry && principal.expiry.atMs <= nowMs) throw new DomainError(principal.expiry.code, messages[principal.expiry.code]);
};

export interface SessionDeadlineOptions {
  /** Called once a session's deadline has passed; it closes the session. */
  readonly onExpired: (client: Client, principal: BrokerPrincipal, expiry: SessionExpiry) => void;
  readonly nowMs?: () => number;
}

export class SessionDeadlines {
  readonly #timers = new Map<Client, NodeJS.Timeout>();
  readonly #onExpired: SessionDeadlineOptions['onExpired'];
  readonly #nowMs: () => number;

  constructor({ onExpired, nowMs = Date.now }: SessionDeadlineOptions) {
    this.#onExpired = onExpired;
    this.#nowMs = nowMs;
  }

  /** Arms the session's deadline (replacing any earlier one for this client). */
  track(client: Client, principal: BrokerPrincipal): void {
    this.untrack(client);
    const { expiry } = principal;
    if (!expiry) return;
    const arm = (): void => {
      const remainingMs = expiry.atMs - this.#nowMs();
      if (remainingMs <= 0) {
        this.#timers.delete(client);
        this.#onExpired(client, principal, expiry);
        return;
      }
      const timer = setTimeout(arm, Math.min(remainingMs, MAX_TIMER_MS));
      timer.unref();
      this.#timers.set(client, timer);
    };
    arm();
  }

  untrack(client: Client): void {
    const timer = this.#timers.get(client);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(client);
  }

  get size(): number {
    return this.#timers.size;
  }

  close(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
