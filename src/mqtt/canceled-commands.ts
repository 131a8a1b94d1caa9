import { commandFactsOf, isCommandTopic } from './command-messages.ts';

// The commands that must not be delivered any more (docs/decisions/0034-command-delivery.md):
// canceled ones, by id, and expired ones, by age (the message's data.createdAt + the expiry, so a
// copy queued for a persistent session long ago needs no memory). Every delivery of a message on
// i/cmd_v3/c passes `authorizeForward`, including copies aedes replays from a persistent session's
// queue on reconnect (aedes' emptyQueue → authorizeForward): such a copy is dropped there, on
// whichever node the agent is. Canceled ids come from this node's cancellations, a periodic read
// of the database, and a read of the agent's own canceled commands before its session resumes;
// an id is forgotten after the expiry, when the age rule covers its copies.
// Bounded (SPEC: no client can grow the broker's memory without bound): only commands that were
// published are held (the store answers only those: a never-sent one is in no queue), and at most
// `maxIds` (about 70 bytes each); past that the oldest are forgotten first, counted and logged
// (`onEvicted`). An evicted id's queued copy could then still go out: the cap is far above what an
// agent's queue (TRUSTGATE_MQTT_QUEUED_PER_CLIENT) and the pending cap per agent let pile up.
export const MAX_CANCELED_IDS = 100_000;

export class CanceledCommands {
  readonly #addedAtMs = new Map<string, number>();
  readonly #keepMs: number;
  readonly #maxIds: number;
  readonly #onEvicted: (evicted: number) => void;

  /** `keepMs`: the command expiry (TRUSTGATE_COMMAND_EXPIRY_MS): how long an id is remembered, and the age
   *  past which a command is not delivered. `maxIds`: how many ids this node holds at most. */
  constructor(keepMs: number, { maxIds = MAX_CANCELED_IDS, onEvicted = () => undefined }: { maxIds?: number; onEvicted?: (evicted: number) => void } = {}) {
    this.#keepMs = keepMs;
    this.#maxIds = maxIds;
    this.#onEvicted = onEvicted;
  }

  /** Map order is insertion order: the first entries are the oldest, evicted first. */
  add(ids: Iterable<string>, nowMs = Date.now()): void {
    let evicted = 0;
    for (const id of ids) {
      if (this.#addedAtMs.has(id)) continue;
      if (this.#addedAtMs.size >= this.#maxIds) {
        const oldest = this.#addedAtMs.keys().next();
        if (!oldest.done) this.#addedAtMs.delete(oldest.value);
        evicted += 1;
      }
      this.#addedAtMs.set(id, nowMs);
    }
    if (evicted > 0) this.#onEvicted(evicted);
  }

  has(id: string): boolean {
    return this.#addedAtMs.has(id);
  }

  get size(): number {
    return this.#addedAtMs.size;
  }

  /** Whether this packet is a command that must not be delivered: canceled, or older than the expiry.
   *  Every delivery asks: the clock is read only for a command (issue 18). */
  isCanceledCommand(packet: { readonly topic: string; readonly payload?: unknown }, nowMs?: number): boolean {
    if (this.#keepMs <= 0 || !isCommandTopic(packet.topic)) return false;
    const facts = commandFactsOf(packet.payload);
    if (facts === undefined) return false;
    return this.#addedAtMs.has(facts.id) || facts.createdAtMs + this.#keepMs <= (nowMs ?? Date.now());
  }

  get maxIds(): number {
    return this.#maxIds;
  }

  prune(nowMs = Date.now()): void {
    for (const [id, at] of this.#addedAtMs) if (nowMs - at > this.#keepMs) this.#addedAtMs.delete(id);
  }
}
