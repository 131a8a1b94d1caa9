import { commandIdOf, isCommandTopic } from './command-messages.ts';

// The command ids this node knows as canceled (docs/decisions/0034-command-delivery.md). Every
// delivery of a message on i/cmd_v3/c passes `authorizeForward`, including copies aedes replays
// from a persistent session's queue on reconnect (aedes' emptyQueue → authorizeForward): a
// canceled command's copy is dropped there, on whichever node the agent is. Kept from this node's
// cancellations, a periodic read of the database, and a read of the agent's own canceled commands
// before its persistent session resumes.
export class CanceledCommands {
  readonly #addedAtMs = new Map<string, number>();
  readonly #keepMs: number;

  /** `keepMs`: how long an id is remembered (the command expiry: later it cannot be delivered anyway). */
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

  /** Whether this packet is a command that must not be delivered. */
  isCanceledCommand(packet: { readonly topic: string; readonly payload?: unknown }): boolean {
    if (this.#addedAtMs.size === 0 || !isCommandTopic(packet.topic)) return false;
    const id = commandIdOf(packet.payload);
    return id !== undefined && this.#addedAtMs.has(id);
  }

  prune(nowMs = Date.now()): void {
    for (const [id, at] of this.#addedAtMs) if (nowMs - at > this.#keepMs) this.#addedAtMs.delete(id);
  }
}
