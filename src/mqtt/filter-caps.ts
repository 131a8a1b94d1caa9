import type { Aedes, Client, Subscription } from 'aedes';
import type { CapHits } from './cap-hits.ts';
import { onClientGone } from './client-lifecycle.ts';

// Topic filters per client and per tenant are capped (docs/decisions/0015-broker-quotas.md).
// Every filter a connection holds is a listener in the shared emitter — in a cluster a Redis
// pattern on every node — so 100,000 wildcard filters from one read-only token slowed every
// tenant's deliveries. Filters past a cap get SUBACK 0x80 and the connection stays (MQTT-3.9.3:
// a well-behaved client learns which filters failed); one already held is not counted again and
// an UNSUBSCRIBE frees its place. Counted on the connections of this node, from the filters
// aedes authorizes for them — a persistent session's restored filters included.

type AuthorizeSubscribe = (client: Client, subscription: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void) => void;

export interface FilterCaps {
  readonly perClient: number;
  readonly perTenant: number;
}

export const applyFilterCaps = (broker: Aedes, caps: FilterCaps, hits: CapHits, tenantOf: (client: Client) => string | undefined): void => {
  const filtersOf = new WeakMap<Client, { readonly tenant: string; readonly topics: Set<string> }>();
  const byTenant = new Map<string, number>();
  const release = (tenant: string, count: number): void => {
    const left = (byTenant.get(tenant) ?? 0) - count;
    if (left > 0) byTenant.set(tenant, left);
    else byTenant.delete(tenant);
  };

  const authorizeSubscribe = broker.authorizeSubscribe as AuthorizeSubscribe;
  broker.authorizeSubscribe = ((client, subscription, callback) => {
    // A persistent session's filters restored for a connection that has closed meanwhile: its
    // release may already have happened (client-lifecycle.ts); counting them now would keep
    // them counted for ever.
    if ((client as { closed?: boolean }).closed === true) return authorizeSubscribe(client, subscription, callback);
    let held = filtersOf.get(client);
    if (!held) filtersOf.set(client, held = { tenant: tenantOf(client) ?? '', topics: new Set() });
    const { tenant, topics } = held;
    if (topics.has(subscription.topic)) return authorizeSubscribe(client, subscription, callback);
    if (topics.size >= caps.perClient) {
      hits.hit('filtersPerClient', { clientId: client.id, limit: caps.perClient }, 'subscription refused (SUBACK 0x80): the client holds the most filters allowed');
      return callback(null, null);
    }
    if ((byTenant.get(tenant) ?? 0) >= caps.perTenant) {
      hits.hit('filtersPerTenant', { clientId: client.id, tenant, limit: caps.perTenant }, 'subscription refused (SUBACK 0x80): the tenant\'s connections hold the most filters allowed');
      return callback(null, null);
    }
    topics.add(subscription.topic);
    byTenant.set(tenant, (byTenant.get(tenant) ?? 0) + 1);
    authorizeSubscribe(client, subscription, (error, granted) => {
      if ((error || !granted) && topics.delete(subscription.topic)) release(tenant, 1);
      callback(error, granted);
    });
  }) satisfies AuthorizeSubscribe;

  broker.on('unsubscribe', (unsubscribed: string[], client: Client) => {
    const held = filtersOf.get(client);
    if (!held) return;
    for (const topic of unsubscribed) if (held.topics.delete(topic)) release(held.tenant, 1);
  });
  // A closed connection's filters leave the emitter with it (a persistent session keeps them in
  // the persistence only, bounded by the per-client cap and the session expiry).
  onClientGone(broker, (client: Client) => {
    const held = filtersOf.get(client);
    if (!held) return;
    release(held.tenant, held.topics.size);
    held.topics.clear();
  });
};
