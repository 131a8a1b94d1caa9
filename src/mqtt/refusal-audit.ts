import type { AuditTrail } from '../registry/index.ts';

// Refused MQTT connections in the audit trail, aggregated (issue 16): one entry per client id (or
// source address, for connections dropped before any CONNECT) and reason per minute, with
// `count`, so a storm of refusals writes a few rows a minute, not one per attempt. A minute's
// entries are written once it is over (and at shutdown). The number of entries held for one
// minute is bounded too, per tenant (and once for the refusals that prove none): past it, the
// rest of that minute is summed into one entry per reason with the target `clientId:*`, still
// the tenant's. Per tenant, so that a storm of random client ids from anyone on the internet
// (which proves no tenant) cannot push a tenant's own refusals out of its trail.

const MINUTE_MS = 60_000;
const FLUSH_INTERVAL_MS = 5_000;
export const MAX_REFUSAL_ENTRIES_PER_MINUTE = 5_000;

export interface RefusalToAudit {
  readonly clientId: string | undefined;
  readonly sourceAddress: string | undefined;
  readonly reason: string;
  /** The tenant the refusal proved (undefined: listed to no tenant, only logged). */
  readonly tenant: string | undefined;
}

interface Aggregate {
  readonly minute: number;
  readonly target: string;
  readonly actorId: string;
  readonly reason: string;
  readonly tenant: string | undefined;
  readonly sourceAddress: string | undefined;
  count: number;
}

export class RefusalAudit {
  readonly #trail: AuditTrail;
  readonly #now: () => number;
  readonly #aggregates = new Map<string, Aggregate>();
  readonly #timer: NodeJS.Timeout;
  #minute = 0;
  /** Entries held for the current minute, by tenant ('' for none). */
  readonly #entriesThisMinute = new Map<string, number>();

  constructor(trail: AuditTrail, now: () => number = Date.now) {
    this.#trail = trail;
    this.#now = now;
    this.#timer = setInterval(() => this.flush(false), FLUSH_INTERVAL_MS);
    this.#timer.unref();
  }

  add(refusal: RefusalToAudit): void {
    const minute = Math.floor(this.#now() / MINUTE_MS) * MINUTE_MS;
    if (minute !== this.#minute) {
      this.#minute = minute;
      this.#entriesThisMinute.clear();
    }
    let target = refusal.clientId !== undefined ? `clientId:${refusal.clientId}` : `sourceAddress:${refusal.sourceAddress ?? ''}`;
    const { tenant } = refusal;
    const held = this.#entriesThisMinute.get(tenant ?? '') ?? 0;
    let aggregate = this.#aggregates.get(`${minute}\0${target}\0${refusal.reason}\0${tenant ?? ''}`);
    if (!aggregate && held >= MAX_REFUSAL_ENTRIES_PER_MINUTE) {
      target = 'clientId:*';
      aggregate = this.#aggregates.get(`${minute}\0${target}\0${refusal.reason}\0${tenant ?? ''}`);
    }
    if (aggregate) {
      aggregate.count += 1;
      return;
    }
    this.#entriesThisMinute.set(tenant ?? '', held + 1);
    this.#aggregates.set(`${minute}\0${target}\0${refusal.reason}\0${tenant ?? ''}`, {
      minute, target, actorId: refusal.clientId ?? refusal.sourceAddress ?? '', reason: refusal.reason, tenant, sourceAddress: refusal.sourceAddress, count: 1,
    });
  }

  /** Writes the minutes that are over (all of them with `everything`). */
  flush(everything: boolean): Promise<void> {
    const current = Math.floor(this.#now() / MINUTE_MS) * MINUTE_MS;
    const writes: Promise<void>[] = [];
    for (const [key, aggregate] of this.#aggregates) {
      if (!everything && aggregate.minute >= current) continue;
      this.#aggregates.delete(key);
      writes.push(this.#trail.record({
        time: new Date(aggregate.minute), tenant: aggregate.tenant as never, actor: { type: 'agent', id: aggregate.actorId },
        action: 'mqtt.connectRefused', target: aggregate.target, outcome: 'failure', reason: aggregate.reason,
        sourceAddress: aggregate.sourceAddress, count: aggregate.count,
      }).catch(() => undefined));
    }
    return Promise.all(writes).then(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush(true);
  }
}
