import type { Client } from 'aedes';
import { DomainError } from '../shared/index.ts';
import type { BrokerPrincipal, SessionExpiry } from './broker-principal.ts';

// A session lives no longer than what admitted it — the application's token
// (`exp`), the agent's certificate or its CA (notAfter, whichever comes first). Admission refuses
// them from that instant on (no clock-skew allowance after notAfter or exp for the dev issuer; an
// identity provider's 30 s tolerance is not extended to a live session either); this closes the
// sessions already open, each node its own.
//
// One timer for all sessions, armed for the earliest deadline; the deadlines in a min-heap. An idle
// connection holds a map entry and a heap node (~100 bytes), not a Timeout, its closure and its
// context (~300 bytes per idle agent in heap snapshots, issue 18 part 4). A session that leaves is
// taken out of the map and its heap node cleared (it then holds no client): skipped when it comes
// up, and the heap rebuilt once it holds more cleared nodes than live ones. Node timers hold at
// most 2^31-1 ms (~24.8 days; a longer delay fires at once), so a later deadline re-arms on the way.

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

/** A heap node; a session that left has its client and principal cleared, so the node holds nothing of it. */
interface Deadline { client: Client | undefined; principal: BrokerPrincipal | undefined; readonly atMs: number }

export class SessionDeadlines {
  readonly #deadlines = new Map<Client, Deadline>();
  /** Min-heap by atMs; may hold cleared nodes of sessions that left (skipped when popped). */
  #heap: Deadline[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The deadline #timer was armed for (Infinity: none). */
  #armedForMs = Infinity;
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
    if (expiry.atMs - this.#nowMs() <= 0) {
      this.#onExpired(client, principal, expiry);
      return;
    }
    const deadline: Deadline = { client, principal, atMs: expiry.atMs };
    this.#deadlines.set(client, deadline);
    this.#push(deadline);
    if (expiry.atMs < this.#armedForMs) this.#arm(expiry.atMs);
  }

  untrack(client: Client): void {
    const deadline = this.#deadlines.get(client);
    if (deadline === undefined) return;
    this.#deadlines.delete(client);
    // Its heap node stays, cleared, until it comes up or the heap is rebuilt; the timer re-arms.
    deadline.client = undefined;
    deadline.principal = undefined;
    if (this.#heap.length > 64 && this.#heap.length > 2 * this.#deadlines.size) this.#rebuild();
  }

  get size(): number {
    return this.#deadlines.size;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedForMs = Infinity;
    this.#deadlines.clear();
    this.#heap = [];
  }

  #arm(atMs: number): void {
    clearTimeout(this.#timer);
    this.#armedForMs = atMs;
    this.#timer = setTimeout(() => this.#fire(), Math.min(Math.max(0, atMs - this.#nowMs()), MAX_TIMER_MS));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedForMs = Infinity;
    const now = this.#nowMs();
    for (let next = this.#heap[0]; next !== undefined; next = this.#heap[0]) {
      const { client, principal } = next;
      if (client === undefined || principal?.expiry === undefined) {
        this.#pop();
        continue;
      }
      if (next.atMs - now > 0) {
        this.#arm(next.atMs);
        return;
      }
      this.#pop();
      this.#deadlines.delete(client);
      this.#onExpired(client, principal, principal.expiry);
    }
  }

  #rebuild(): void {
    this.#heap = [];
    for (const deadline of this.#deadlines.values()) this.#push(deadline);
  }

  #push(deadline: Deadline): void {
    const heap = this.#heap;
    let i = heap.push(deadline) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.atMs <= deadline.atMs) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = deadline;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.atMs < heap[left]!.atMs ? right : left;
      if (heap[child]!.atMs >= last.atMs) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
