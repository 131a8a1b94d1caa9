import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { CaExpiry } from '../storage/index.ts';

const DAY_MS = 86_400_000;
/** The windows of the agent certificate counts: the `within` label's only values. */
export const AGENT_EXPIRY_WINDOWS = [{ label: '7d', days: 7 }, { label: '30d', days: 30 }] as const;
// A scrape reads the database once (four small queries), however many families ask; a database that
// hangs costs a scrape this much at most and leaves the series as the last answer had them.
const QUERY_TIMEOUT_MS = 2_000;

export interface ExpirySource {
  listCaExpiries(): Promise<CaExpiry[]>;
  /** Per tenant: agents whose current certificate's notAfter is before `before`. */
  countAgentCertificatesExpiringBefore(before: Date): Promise<Map<string, number>>;
}

interface Snapshot {
  readonly cas: readonly CaExpiry[];
  /** window label → tenant → count */
  readonly agents: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

export interface ExpiryMetricsOptions {
  readonly registry: Registry;
  readonly source: ExpirySource;
  /** TRUSTGATE_METRICS_TOKEN is set: families naming tenants and CAs are exported too. */
  readonly namesTenants: boolean;
  readonly now?: () => Date;
  readonly logger: Logger;
}

const bounded = async <T>(work: Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${QUERY_TIMEOUT_MS} ms`)), QUERY_TIMEOUT_MS);
    })]);
  } finally {
    clearTimeout(timer);
  }
};

// Issue 15, part 3: expiry you can see coming. Read at scrape time from the database, so every
// node of a cluster exports the same values (do not sum them across nodes: take max or any one).
// Without TRUSTGATE_METRICS_TOKEN only aggregates without tenant or CA names; with it, per tenant
// and CA as well. Label sets stay bounded: `within` has two values; tenants × their CAs (at most
// three each) only with the token.
export const registerExpiryMetrics = ({ registry, source, namesTenants, now = () => new Date(), logger }: ExpiryMetricsOptions): void => {
  // prom-client collects every family of a scrape at once: they share the read under way.
  let pending: Promise<Snapshot | undefined> | undefined;
  let isFailing = false;
  const read = async (): Promise<Snapshot> => {
    const at = now();
    const [cas, ...counts] = await bounded(Promise.all([
      source.listCaExpiries(),
      ...AGENT_EXPIRY_WINDOWS.map((window) => source.countAgentCertificatesExpiringBefore(new Date(at.getTime() + window.days * DAY_MS))),
    ])) as [CaExpiry[], ...Map<string, number>[]];
    return { cas, agents: new Map(AGENT_EXPIRY_WINDOWS.map((window, index) => [window.label, counts[index]!])) };
  };
  const snapshot = (): Promise<Snapshot | undefined> => {
    pending ??= read().then((value) => {
      if (isFailing) logger.info('expiry metrics: the database answers again');
      isFailing = false;
      return value;
    }, (error: unknown) => {
      if (!isFailing) logger.warn({ err: (error as Error).message }, 'expiry metrics: could not read certificate expiries; the series keep their last values');
      isFailing = true;
      return undefined;
    }).finally(() => { pending = undefined; });
    return pending;
  };

  let hasCa = true;
  const soonest = new Gauge({
    name: 'trustgate_ca_certificate_soonest_expiry_timestamp_seconds',
    help: 'notAfter (Unix seconds) of the CA certificate that expires first, over every tenant\'s uploaded and managed CAs; absent without any CA',
    registers: [registry],
    async collect() {
      const value = await snapshot();
      if (!value) return;
      hasCa = value.cas.length > 0;
      if (hasCa) this.set(Math.min(...value.cas.map((ca) => ca.notAfter.getTime())) / 1000);
    },
  });
  // A gauge without labels always has a sample (0 by default): "expired in 1970" would fire every
  // expiry alert on a node without CAs. Without a CA the family has no sample instead.
  const getSoonest = soonest.get.bind(soonest);
  soonest.get = async () => {
    const metric = await getSoonest();
    return hasCa ? metric : { ...metric, values: [] };
  };
  new Gauge({
    name: 'trustgate_agent_certificates_expiring',
    help: 'Agents whose current certificate expires within 7 or 30 days (already expired included), over every tenant',
    labelNames: ['within'] as const,
    registers: [registry],
    async collect() {
      const value = await snapshot();
      if (!value) return;
      for (const window of AGENT_EXPIRY_WINDOWS) {
        this.labels(window.label).set([...value.agents.get(window.label)!.values()].reduce((sum, count) => sum + count, 0));
      }
    },
  });
  // CRLs (issue 15): a CRL past its nextUpdate is still enforced but stale; alert before that.
  let hasCrl = false;
  const soonestCrl = new Gauge({
    name: 'trustgate_crl_soonest_next_update_timestamp_seconds',
    help: 'nextUpdate (Unix seconds) of the imported CRL due first, over every tenant\'s uploaded CAs; absent without a CRL that has one',
    registers: [registry],
    async collect() {
      const value = await snapshot();
      if (!value) return;
      const nextUpdates = value.cas.flatMap((ca) => (ca.crlNextUpdate ? [ca.crlNextUpdate.getTime()] : []));
      hasCrl = nextUpdates.length > 0;
      if (hasCrl) this.set(Math.min(...nextUpdates) / 1000);
    },
  });
  // As for the CA gauge above: no sample rather than a 1970 that fires every alert.
  const getSoonestCrl = soonestCrl.get.bind(soonestCrl);
  soonestCrl.get = async () => {
    const metric = await getSoonestCrl();
    return hasCrl ? metric : { ...metric, values: [] };
  };
  if (!namesTenants) return;
  new Gauge({
    name: 'trustgate_tenant_crl_next_update_timestamp_seconds',
    help: 'nextUpdate (Unix seconds) of the CRL imported for each uploaded CA of each tenant (only with TRUSTGATE_METRICS_TOKEN)',
    labelNames: ['tenant', 'ca_certificate_id'] as const,
    registers: [registry],
    async collect() {
      const value = await snapshot();
      if (!value) return;
      this.reset();
      for (const ca of value.cas) if (ca.crlNextUpdate) this.labels(ca.tenant, ca.caCertificateId).set(ca.crlNextUpdate.getTime() / 1000);
    },
  });
  new Gauge({
    name: 'trustgate_tenant_ca_certificate_expiry_timestamp_seconds',
    help: 'notAfter (Unix seconds) of each CA certificate of each tenant (only with TRUSTGATE_METRICS_TOKEN)',
    labelNames: ['tenant', 'ca_certificate_id', 'kind'] as const,
    registers: [registry],
    async collect() {
      const value = await snapshot();
      if (!value) return;
      // A deleted CA's series goes with it.
      this.reset();
      for (const ca of value.cas) this.labels(ca.tenant, ca.caCertificateId, ca.kind).set(ca.notAfter.getTime() / 1000);
    },
  });
  new Gauge({
    name: 'trustgate_tenant_agent_certificates_expiring',
    help: 'Agents of each tenant whose current certificate expires within 7 or 30 days, already expired included (only with TRUSTGATE_METRICS_TOKEN)',
    labelNames: ['tenant', 'within'] as const,
    registers: [registry],
    async collect() {
      const value = await snapshot();
      if (!value) return;
      this.reset();
      for (const window of AGENT_EXPIRY_WINDOWS) {
        for (const [tenant, count] of value.agents.get(window.label)!) this.labels(tenant, window.label).set(count);
      }
    },
  });
};
