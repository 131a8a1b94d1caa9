import { commandFactsOf, isCommandTopic } from './command-messages.ts';

// The commands that must not be delivered any more (docs/decisions/0034-command-delivery.md):
// canceled ones, by id, and expired ones, by age (the message's data.createdAt + the expiry, so a
// copy queued for a persistent session long ago needs no memory). Every delivery of a message on
// i/cmd_v3/c passes `authorizeForward`, including copies aedes replays from a persistent session's
// queue on reconnect (aedes' emptyQueue → authorizeForward): such a copy is dropped there, on
// whichever node the agent is. Canceled ids come from this node's cancellations, a periodic read
// of the database, and a read of the agent's own canceled commands before its session resumes;
// an id is forgotten after the expiry, when the age rule covers its copies.
export class CanceledCommands {
  readonly #addedAtMs = new Map<string, number>();
  readonly #keepMs: number;

  /** `keepMs`: the command expiry (TRUSTGATE_COMMAND_EXPIRY_MS): how long an id is remembered, and the age
   *  past which a command is not delivered. */
  constructor(keepMs: number) {
    this.#keepMs = keepMs;
  }

  add(ids: Iterable<string>, nowMs = Date.now()): void {
    for (const id of ids) if (!this.#addedAtMs.has(id)) this.#addedAtMs.set(id, nowMs);
  }

  has(id: string): boolean {
    return this.#addedAtMs.has(id);
  }

  get size(): number {
    return this.#addedAtMs.size;
  }

  /** Whether this packet is a command that must not be delivered: canceled, or older than the expiry. */
  isCanceledCommand(packet: { readonly topic: string; readonly payload?: unknown }, nowMs = Date.now()): boolean {
    if (this.#keepMs <= 0 || !isCommandTopic(packet.topic)) return false;
    const facts = commandFactsOf(packet.payload);
    if (facts === undefined) return false;
    return this.#addedAtMs.has(facts.id) || facts.createdAtMs + this.#keepMs <= nowMs;
  }

  prune(nowMs = Date.now()): void {
    for (const [id, at] of this.#addedAtMs) if (nowMs - at > this.#keepMs) this.#addedAtMs.delete(id);
  }
}
