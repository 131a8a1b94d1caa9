import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import type { AuditEntry, AuditTrail } from '../registry/index.ts';
import type { TenantId } from '../shared/index.ts';

// What a 429 leaves behind, apart from the answer: a metric, and an audit entry that a flood cannot
// multiply. Deliberately apart from trust refusals (decision 0024): its own code
// (rateLimit.exceeded), metric (trustgate_http_rate_limited_total) and audit action, so "pump-7
// was refused" and "the script was throttled" never read alike.

/** How long refusals of one tenant and route are gathered into one audit entry. */
export const AUDIT_AGGREGATION_MS = 60_000;

export interface RateLimitRefusal {
  readonly tenant: TenantId;
  readonly subject: string | undefined;
  /** The budget's name, `POST /caCertificates`. */
  readonly budget: string;
  /** The route pattern as the request metrics name it (`/api/mindconnectmqtt/v3/caCertificates`). */
  readonly routePattern: string;
  readonly method: string;
  /** The window that refused, `2 per 30 s`. */
  readonly limit: string;
  readonly sourceAddress: string;
  readonly requestId: string;
}

export interface RateLimitRefusals {
  refused(refusal: RateLimitRefusal): void;
  /** Records what is still gathered (on close). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface RateLimitRefusalsOptions {
  readonly metrics: MetricsRegistry;
  /** TRUSTGATE_METRICS_TOKEN is set: a second family names the tenant. */
  readonly namesTenants: boolean;
  readonly auditTrail: AuditTrail | undefined;
  readonly now: () => Date;
}

interface Gathered {
  readonly first: RateLimitRefusal;
  /** Refusals after the first, not yet recorded. */
  more: number;
}

const toEntry = (refusal: RateLimitRefusal, time: Date, count: number): AuditEntry => ({
  time,
  tenant: refusal.tenant,
  actor: { type: 'token', id: refusal.subject ?? '' },
  action: 'rateLimit.exceeded',
  target: `route:${refusal.budget}`,
  outcome: 'failure',
  reason: `rateLimit.exceeded (${refusal.limit})`,
  sourceAddress: refusal.sourceAddress,
  requestId: refusal.requestId,
  count,
});

/**
 * Per tenant and route and AUDIT_AGGREGATION_MS: the first refusal is recorded at once (with its
 * request id, so the logref a caller quotes is found), the others as one entry with their count at
 * the end of the period. A tenant hammering a route thus writes at most two entries a minute per
 * node, however many calls it makes.
 */
export const rateLimitRefusals = ({ metrics, namesTenants, auditTrail, now }: RateLimitRefusalsOptions): RateLimitRefusals => {
  const limited = new Counter({
    name: 'trustgate_http_rate_limited_total',
    help: 'REST calls refused with 429 rateLimit.exceeded (TRUSTGATE_RATE_LIMITS), by method and route pattern',
    labelNames: ['method', 'route'] as const,
    registers: [metrics],
  });
  const limitedByTenant = namesTenants ? new Counter({
    name: 'trustgate_tenant_http_rate_limited_total',
    help: 'REST calls refused with 429 rateLimit.exceeded, by tenant, method and route pattern (only with TRUSTGATE_METRICS_TOKEN)',
    labelNames: ['tenant', 'method', 'route'] as const,
    registers: [metrics],
  }) : undefined;

  // AuditTrail.record logs its own storage problems and never rejects (its contract); a rejection
  // anyway must not end the process from a timer or a request that has already been answered.
  const record = (entry: AuditEntry): Promise<void> => auditTrail ? auditTrail.record(entry).catch(() => undefined) : Promise.resolve();
  let gathered = new Map<string, Gathered>();
  const flush = async (): Promise<void> => {
    const due = gathered;
    gathered = new Map();
    if (!auditTrail) return;
    const time = now();
    await Promise.all([...due.values()].filter((g) => g.more > 0).map((g) => record(toEntry(g.first, time, g.more))));
  };
  // unref: a pending summary never keeps the process alive; close() writes it.
  const timer = setInterval(() => void flush(), AUDIT_AGGREGATION_MS).unref();

  return {
    refused(refusal) {
      limited.labels(refusal.method, refusal.routePattern).inc();
      limitedByTenant?.labels(refusal.tenant, refusal.method, refusal.routePattern).inc();
      const key = `${refusal.tenant} ${refusal.budget}`;
      const known = gathered.get(key);
      if (known) {
        known.more += 1;
        return;
      }
      gathered.set(key, { first: refusal, more: 0 });
      void record(toEntry(refusal, now(), 1));
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
};
