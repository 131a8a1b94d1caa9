import type { AuditEntry, AuditTrail } from '../registry/index.ts';

// Bans and their ends in the audit trail (mqtt.clientBanned, mqtt.banLifted), bounded. Each ban is
// one entry, so an operator sees which client was banned and why; but anyone on the internet can
// earn bans for random client ids (20 refusals each, default) from many addresses, and one entry
// per ban and one per expiry would let them fill the table at the rate of their handshakes. So, per
// tenant (and once for bans that prove none) and action, the first MAX_BAN_ENTRIES_PER_MINUTE of a
// minute are written at once and the rest of that minute as one entry `ban:*` with their count,
// written once the minute is over (and at shutdown). A tenant's own entries are counted apart from
// the tenant-less ones: a storm of random client ids cannot push them into a summary.

const MINUTE_MS = 60_000;
const FLUSH_INTERVAL_MS = 5_000;
export const MAX_BAN_ENTRIES_PER_MINUTE = 100;

interface Summary {
  readonly minute: number;
  readonly first: AuditEntry;
  count: number;
}

export class BanAudit {
  readonly #trail: AuditTrail;
  readonly #now: () => number;
  readonly #written = new Map<string, number>();
  readonly #summaries = new Map<string, Summary>();
  readonly #timer: NodeJS.Timeout;
  #minute = 0;

  constructor(trail: AuditTrail, now: () => number = Date.now) {
    this.#trail = trail;
    this.#now = now;
    this.#timer = setInterval(() => void this.flush(false), FLUSH_INTERVAL_MS);
    this.#timer.unref();
  }

  add(entry: AuditEntry): void {
    const minute = Math.floor(this.#now() / MINUTE_MS) * MINUTE_MS;
    if (minute !== this.#minute) {
      this.#minute = minute;
      this.#written.clear();
    }
    const key = `${entry.tenant ?? ''}\0${entry.action}`;
    const written = this.#written.get(key) ?? 0;
    if (written < MAX_BAN_ENTRIES_PER_MINUTE) {
      this.#written.set(key, written + 1);
      this.#record(entry);
      return;
    }
    const summaryKey = `${minute}\0${key}`;
    const summary = this.#summaries.get(summaryKey);
    if (summary) summary.count += 1;
    else this.#summaries.set(summaryKey, { minute, first: entry, count: 1 });
  }

  /** Writes the summaries of the minutes that are over (all of them with `everything`). */
  flush(everything: boolean): Promise<void> {
    const current = Math.floor(this.#now() / MINUTE_MS) * MINUTE_MS;
    const writes: Promise<void>[] = [];
    for (const [key, { minute, first, count }] of this.#summaries) {
      if (!everything && minute >= current) continue;
      this.#summaries.delete(key);
      writes.push(this.#record({
        time: new Date(minute), tenant: first.tenant, actor: first.actor, action: first.action, target: 'ban:*', outcome: first.outcome,
        reason: `${count} more in this minute (the first ${MAX_BAN_ENTRIES_PER_MINUTE} are listed one by one)`, sourceAddress: undefined, count,
      }));
    }
    return Promise.all(writes).then(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush(true);
  }

  // AuditTrail.record never rejects by contract; a rejection anyway must not end the process.
  #record(entry: AuditEntry): Promise<void> {
    return this.#trail.record(entry).catch(() => undefined);
  }
}
