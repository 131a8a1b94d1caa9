import { Counter, Gauge, type Registry } from 'prom-client';
import { errorCodes } from '../shared/index.ts';
import type { SessionExpiry } from './broker-principal.ts';
import { MessageTraffic } from './traffic-metrics.ts';
import { limitKinds } from './connect-limits.ts';

/** Every cap the broker enforces (docs/decisions/0015-broker-quotas.md): the `cap` label's values. */
export const brokerCaps = [
  'qos2Publish', 'filtersPerSubscribe', 'filtersPerClient', 'filtersPerTenant', 'queuedPerClient', 'queuedPerTenant',
  'retainedPerClient', 'retainedPerTenant', 'outgoingBytes', 'outgoingBytesPerTenant', 'slowConsumerTimeout',
  'persistentSessionsPerTenant', 'publishesPerSecond', 'agentsPerTenant', 'canceledCommandIds',
] as const;
export type BrokerCap = typeof brokerCaps[number];

// Labels are bounded: `reason` is a catalogue code, `kind` agent|application, `cap` one of
// brokerCaps. No tenant labels.
export const createBrokerMetrics = (registry: Registry) => {
  const refusals = new Counter({
    name: 'trustgate_mqtt_connection_refusals_total',
    help: 'MQTT connections refused, by reason (error catalogue code)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const code of errorCodes.filter((c) => c.startsWith('mqtt.') || c.startsWith('auth.') || c.startsWith('certificate.'))) refusals.labels(code).inc(0);
  const capHits = new Counter({
    name: 'trustgate_mqtt_cap_hits_total',
    help: 'Times a broker cap refused something (a packet, a filter, a queued or retained message) or disconnected a client, by cap',
    labelNames: ['cap'] as const,
    registers: [registry],
  });
  for (const cap of brokerCaps) capHits.labels(cap).inc(0);
  const messagesRefused = new Counter({
    name: 'trustgate_mqtt_messages_refused_total',
    help: 'Messages stopped because their publisher is unknown or was not allowed the topic, by where: storedWill (a dead node\'s will), retained (read from the store), delivery, sysTopic (a client-originated $SYS message)',
    labelNames: ['where'] as const,
    registers: [registry],
  });
  for (const where of ['storedWill', 'retained', 'delivery', 'sysTopic']) messagesRefused.labels(where).inc(0);
  const sessionsClosedByExpiry = new Counter({
    name: 'trustgate_mqtt_sessions_closed_by_expiry_total',
    help: 'Live MQTT sessions closed because the token, agent certificate or CA certificate that admitted them expired, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const code of ['auth.tokenExpired', 'mqtt.certificateExpired', 'mqtt.caExpired'] satisfies SessionExpiry['code'][]) sessionsClosedByExpiry.labels(code).inc(0);
  const accepted = new Counter({
    name: 'trustgate_mqtt_connections_accepted_total',
    help: 'MQTT connections accepted, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  for (const kind of ['agent', 'application']) accepted.labels(kind).inc(0);
  // Connect limits and bans (connect-limits.ts): apart from the refusals above, so a refusal for
  // rate is never counted as one for trust.
  const rateLimited = new Counter({
    name: 'trustgate_mqtt_connects_rate_limited_total',
    help: 'MQTT connection attempts refused by the connect limits, by kind: clientId and sourceAddress (over the rate; CONNACK 3, a source address dropped before TLS), bannedClientId and bannedSourceAddress (banned)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  for (const kind of limitKinds) rateLimited.labels(kind).inc(0);
  const bans = new Counter({
    name: 'trustgate_mqtt_bans_total',
    help: 'Bans this node made (a client id with its certificate, or a source address, refused too often within the window), by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  for (const kind of ['clientId', 'sourceAddress']) bans.labels(kind).inc(0);
  return {
    rateLimited,
    bans,
    /** Per-message counts, read at scrape time (traffic-metrics.ts). */
    traffic: new MessageTraffic(),
    messagesRefused,
    sessionsClosedByExpiry,
    brokerCaps,
    capHits,
    sessionsExpired: new Counter({
      name: 'trustgate_mqtt_persistent_sessions_expired_total',
      help: 'Persistent sessions deleted because their client stayed away longer than the session expiry',
      registers: [registry],
    }),
    refusals,
    accepted,
    sessionsClosedByTrustChange: new Counter({
      name: 'trustgate_mqtt_sessions_closed_by_trust_change_total',
      help: 'Live MQTT sessions closed because a CA was deleted, an agent disabled/deleted or an agent certificate revoked',
      registers: [registry],
    }),
    deniedPublishes: new Counter({
      name: 'trustgate_mqtt_publishes_denied_total',
      help: 'PUBLISH packets refused by the topic rules (the connection is closed)',
      registers: [registry],
    }),
    connected: new Gauge({
      name: 'trustgate_mqtt_sessions',
      help: 'Authenticated MQTT sessions on this node',
      registers: [registry],
    }),
  };
};

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>;
