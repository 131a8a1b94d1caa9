import { Gauge, type Registry } from 'prom-client';
import type { BrokerPrincipal } from './broker-principal.ts';

// SPEC ("Agent certificates, renewal"): series that name tenants exist only when /metrics needs
// TRUSTGATE_METRICS_TOKEN; an open /metrics never carries them. One series per tenant with a live
// session on this node (bounded by the tenants), computed at scrape time: nothing on the hot path.
export const registerTenantMetrics = (registry: Registry, principals: () => readonly BrokerPrincipal[]): void => {
  new Gauge({
    name: 'trustgate_tenant_mqtt_sessions',
    help: 'Authenticated MQTT sessions on this node by tenant and kind (only with TRUSTGATE_METRICS_TOKEN set)',
    labelNames: ['tenant', 'kind'] as const,
    registers: [registry],
    collect() {
      const counts = new Map<string, { tenant: string; kind: string; count: number }>();
      for (const { tenant, kind } of principals()) {
        const key = `${kind}\u0000${tenant}`;
        const entry = counts.get(key) ?? { tenant, kind, count: 0 };
        entry.count += 1;
        counts.set(key, entry);
      }
      // Tenants whose last session left disappear instead of staying at 0 for ever.
      this.reset();
      for (const { tenant, kind, count } of counts.values()) this.labels(tenant, kind).set(count);
    },
  });
};
