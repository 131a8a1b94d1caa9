import { createSecureContext } from 'node:tls';
import { MINDCONNECT_RATE_LIMITS, parseRateLimitPolicy, type RateLimitPolicy } from './rate-limit-policy.ts';

// Every setting trustgate reads, with its environment variable, default and meaning, in one
// place. docs/config.md is kept equal to this table by a test.

export interface Setting<T> {
  readonly env: string;
  readonly default: T;
  readonly description: string;
  parse(raw: string): T;
}

const setting = <T>(definition: Setting<T>): Setting<T> => definition;

const text = (raw: string): string => {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw.trim();
};
const optionalText = (raw: string): string | undefined => raw.trim() === '' ? undefined : raw.trim();
const integer = (min: number, max: number) => (raw: string): number => {
  if (!/^\d+$/.test(raw.trim())) throw new Error(`must be a whole number from ${min} to ${max}`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new Error(`must be a whole number from ${min} to ${max}`);
  return value;
};
const httpsUrl = (raw: string): string | undefined => {
  const value = optionalText(raw);
  if (value === undefined) return undefined;
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.hostname !== 'localhost' && url.hostname !== '127.0.0.1' && url.hostname !== '[::1]') {
    throw new Error('must be an https:// URL (plain http only for localhost)');
  }
  return value;
};
const hostnameList = (raw: string): readonly string[] => {
  const names = raw.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.length === 0) throw new Error('must name at least one host');
  const bad = names.filter((name) => !/^[A-Za-z0-9.:*-]{1,253}$/.test(name));
  if (bad.length > 0) throw new Error(`has invalid host names: ${bad.join(', ')}`);
  return Object.freeze(names);
};
// TLS key-exchange groups the broker agrees to, e.g. `X25519:P-256`; unset = Node's
// own list (the post-quantum hybrid X25519MLKEM768 first). Names OpenSSL does not know fail at
// start, not at the first handshake.
const tlsGroups = (raw: string): string | undefined => {
  const groups = raw.split(/[:,]/).map((group) => group.trim()).filter((group) => group !== '');
  if (groups.length === 0) return undefined;
  const bad = groups.filter((group) => !/^[A-Za-z0-9_-]{1,64}$/.test(group));
  if (bad.length > 0) throw new Error(`has invalid group names: ${bad.join(', ')}`);
  const list = groups.join(':');
  try {
    createSecureContext({ ecdhCurve: list });
  } catch {
    throw new Error(`names a group this Node's OpenSSL does not support: ${list}`);
  }
  return list;
};
const yesNo = (raw: string): boolean => {
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  throw new Error('must be true or false');
};
// Webhook target hosts (issue 19 part 3): names or IP addresses, lower-cased, IPv6 without brackets.
const webhookHosts = (raw: string): readonly string[] => {
  const names = raw.split(',').map((name) => name.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')).filter((name) => name !== '');
  const bad = names.filter((name) => !/^[a-z0-9.:-]{1,253}$/.test(name));
  if (bad.length > 0) throw new Error(`has invalid host names or addresses (no wildcards, ports or schemes): ${bad.join(', ')}`);
  return Object.freeze(names);
};
const logLevel = (raw: string): string => {
  const value = raw.trim();
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(value)) {
    throw new Error('must be one of fatal, error, warn, info, debug, trace, silent');
  }
  return value;
};

export type LogFormat = 'auto' | 'json' | 'pretty';
const logFormat = (raw: string): LogFormat => {
  const value = raw.trim();
  if (value !== 'auto' && value !== 'json' && value !== 'pretty') throw new Error('must be one of auto, json, pretty');
  return value;
};

const redisUrl = (raw: string): string | undefined => {
  const value = optionalText(raw);
  if (value === undefined) return undefined;
  const url = new URL(value);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('must be a redis:// or rediss:// URL');
  return value;
};
const redisPrefix = (raw: string): string => {
  if (!/^[A-Za-z0-9_:.-]{1,64}$/.test(raw)) throw new Error('must be 1 to 64 letters, digits or "_:.-"');
  return raw;
};
/** 31 + "." + 32 hex digits fit the 64 characters of agents.session_id. */
export const MAX_NODE_ID_LENGTH = 31;
const nodeId = (raw: string): string | undefined => {
  const value = optionalText(raw);
  if (value !== undefined && !/^[A-Za-z0-9_-]{1,31}$/.test(value)) throw new Error('must be 1 to 31 letters, digits, "_" or "-"');
  return value;
};

const metricsToken = (raw: string): string | undefined => {
  const value = optionalText(raw);
  // A short shared secret could be guessed by anyone who can reach the port.
  if (value !== undefined && !/^[\x21-\x7e]{16,512}$/.test(value)) throw new Error('must be 16 to 512 printable characters without spaces');
  return value;
};
const buildCommit = (raw: string): string | undefined => {
  const value = optionalText(raw);
  if (value !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(value)) throw new Error('must be 1 to 64 letters, digits or "._-" (a commit hash or tag)');
  return value;
};

export const configSchema = {
  storage: {
    dataDir: setting({
      env: 'TRUSTGATE_DATA_DIR', default: './data', parse: text,
      description: 'Directory for the SQLite database, the dev token signing key and generated certificates.',
    }),
    databaseUrl: setting<string | undefined>({
      env: 'TRUSTGATE_DATABASE_URL', default: undefined, parse: optionalText,
      description: 'Database: unset = SQLite file `trustgate.db` in the data dir; `sqlite:<path>` for another file; `postgres://user@host:5432/db` for PostgreSQL (shared by several nodes).',
    }),
  },
  http: {
    host: setting({
      env: 'TRUSTGATE_HTTP_HOST', default: '0.0.0.0', parse: text,
      description: 'Address the REST API listens on.',
    }),
    port: setting({
      env: 'TRUSTGATE_HTTP_PORT', default: 8080, parse: integer(0, 65535),
      description: 'Port of the REST API; 0 = any free port (the actual port is logged).',
    }),
  },
  mqtt: {
    host: setting({
      env: 'TRUSTGATE_MQTT_HOST', default: '0.0.0.0', parse: text,
      description: 'Address the MQTT broker (mutual TLS) listens on.',
    }),
    port: setting({
      env: 'TRUSTGATE_MQTT_PORT', default: 8883, parse: integer(0, 65535),
      description: 'Port of the MQTT broker (MQTT 3.1.1 over TLS); 0 = any free port (the actual port is logged).',
    }),
    heartbeatMs: setting({
      env: 'TRUSTGATE_MQTT_HEARTBEAT_MS', default: 60_000, parse: integer(500, 3_600_000),
      description: 'How often each node announces itself to the others (cluster), in milliseconds. A node unheard for 3 intervals is taken for dead: the other nodes publish its clients\' last wills (those their publishers were allowed at CONNECT) within 4 more intervals.',
    }),
    // Bounded resources (docs/decisions/0015-broker-quotas.md). What a tenant
    // can make the broker hold is at most its queued + retained caps times the 128 KiB payload.
    maxOutgoingBytesPerClient: setting({
      env: 'TRUSTGATE_MQTT_MAX_OUTGOING_BYTES_PER_CLIENT', default: 8 * 1024 * 1024, parse: integer(65_536, 1024 * 1024 * 1024),
      description: 'Bytes written to one connection but not yet read by the client; a client past it is disconnected as a slow consumer (it never delays other clients).',
    }),
    maxOutgoingBytesPerTenant: setting({
      env: 'TRUSTGATE_MQTT_MAX_OUTGOING_BYTES_PER_TENANT', default: 64 * 1024 * 1024, parse: integer(65_536, 16 * 1024 * 1024 * 1024),
      description: 'Unread bytes of all of a tenant\'s connections that are behind (waiting for the client to read); the connection that would pass it is disconnected as a slow consumer.',
    }),
    slowConsumerTimeoutMs: setting({
      env: 'TRUSTGATE_MQTT_SLOW_CONSUMER_TIMEOUT_MS', default: 10_000, parse: integer(100, 600_000),
      description: 'A connection whose pending writes have not drained for this long is disconnected as a slow consumer, in milliseconds.',
    }),
    maxFiltersPerSubscribe: setting({
      env: 'TRUSTGATE_MQTT_MAX_FILTERS_PER_SUBSCRIBE', default: 64, parse: integer(1, 10_000),
      description: 'Topic filters in one SUBSCRIBE packet; a packet with more closes the connection.',
    }),
    maxFiltersPerClient: setting({
      env: 'TRUSTGATE_MQTT_MAX_FILTERS_PER_CLIENT', default: 256, parse: integer(1, 100_000),
      description: 'Topic filters one client (session) may hold; filters past it get SUBACK 0x80 (failure), the connection stays.',
    }),
    maxFiltersPerTenant: setting({
      env: 'TRUSTGATE_MQTT_MAX_FILTERS_PER_TENANT', default: 20_000, parse: integer(1, 10_000_000),
      description: 'Topic filters all of a tenant\'s connections to one node may hold; filters past it get SUBACK 0x80.',
    }),
    maxQueuedPerClient: setting({
      env: 'TRUSTGATE_MQTT_MAX_QUEUED_PER_CLIENT', default: 1000, parse: integer(1, 1_000_000),
      description: 'QoS 1 messages stored for one persistent session (offline queue and unacknowledged deliveries); past it, new messages are not queued for it and a connected client that holds them unacknowledged is disconnected.',
    }),
    maxQueuedPerTenant: setting({
      env: 'TRUSTGATE_MQTT_MAX_QUEUED_PER_TENANT', default: 10_000, parse: integer(1, 10_000_000),
      description: 'QoS 1 messages stored for all persistent sessions of one tenant; past it, new messages are not queued.',
    }),
    maxRetainedPerClient: setting({
      env: 'TRUSTGATE_MQTT_MAX_RETAINED_PER_CLIENT', default: 100, parse: integer(0, 1_000_000),
      description: 'Retained messages (distinct topics) one client id may leave; past it, its retained PUBLISHes are delivered but not retained.',
    }),
    maxRetainedPerTenant: setting({
      env: 'TRUSTGATE_MQTT_MAX_RETAINED_PER_TENANT', default: 1000, parse: integer(0, 10_000_000),
      description: 'Retained messages (distinct topics) of one tenant; past it, retained PUBLISHes are delivered but not retained.',
    }),
    maxPersistentSessionsPerTenant: setting({
      env: 'TRUSTGATE_MQTT_MAX_PERSISTENT_SESSIONS_PER_TENANT', default: 100_000, parse: integer(1, 10_000_000),
      description: 'Persistent sessions (clean session = false) one tenant may hold, connected or away until their expiry; past it, a CONNECT with clean session 0 for a client id without a session is refused (CONNACK 5), resuming one never is. The default leaves room for every agent of a large tenant.',
    }),
    // Issue 16, part 4 (docs/limits.md): quotas, in force whatever TRUSTGATE_RATE_LIMITS says.
    maxPublishesPerSecondPerAgent: setting({
      env: 'TRUSTGATE_MQTT_MAX_PUBLISHES_PER_SECOND_PER_AGENT', default: 100, parse: integer(1, 1_000_000),
      description: 'PUBLISH packets one agent may send per second, on average (a token bucket refilled at this rate, holding TRUSTGATE_MQTT_PUBLISH_BURST_PER_AGENT); an agent past it is disconnected (logged with reason `publishRateExceeded`). Tenant applications are not capped by it.',
    }),
    publishBurstPerAgent: setting({
      env: 'TRUSTGATE_MQTT_PUBLISH_BURST_PER_AGENT', default: 200, parse: integer(1, 10_000_000),
      description: 'PUBLISH packets an agent may send at once, above its per-second rate (the bucket size of TRUSTGATE_MQTT_MAX_PUBLISHES_PER_SECOND_PER_AGENT).',
    }),
    maxAgentsPerTenant: setting({
      env: 'TRUSTGATE_MQTT_MAX_AGENTS_PER_TENANT', default: 100_000, parse: integer(1, 100_000_000),
      description: 'Agents of one tenant connected at once (in a cluster: over all nodes, each node hearing the others\' counts every 2 s); a further agent\'s CONNECT is refused with CONNACK 5 (`mqtt.tenantConnectionLimitReached`), a reconnecting agent that takes over its own session never is.',
    }),
    sessionExpirySeconds: setting({
      env: 'TRUSTGATE_MQTT_SESSION_EXPIRY_SECONDS', default: 7 * 24 * 3600, parse: integer(1, 10 * 365 * 24 * 3600),
      description: 'A persistent session (clean session = false) whose client stays away this long is deleted with its subscriptions and queued messages, in seconds.',
    }),
  },
  tls: {
    certFile: setting<string | undefined>({
      env: 'TRUSTGATE_TLS_CERT_FILE', default: undefined, parse: optionalText,
      description: 'PEM server certificate (chain) of the broker. Unset = issued by the generated broker root CA.',
    }),
    keyFile: setting<string | undefined>({
      env: 'TRUSTGATE_TLS_KEY_FILE', default: undefined, parse: optionalText,
      description: 'PEM private key of TRUSTGATE_TLS_CERT_FILE (both or neither).',
    }),
    hostnames: setting<readonly string[]>({
      env: 'TRUSTGATE_HOSTNAMES', default: ['localhost'], parse: hostnameList,
      description: 'Comma-separated DNS names and IP addresses put in the generated broker server certificate.',
    }),
    groups: setting<string | undefined>({
      env: 'TRUSTGATE_TLS_GROUPS', default: undefined, parse: tlsGroups,
      description: 'TLS key-exchange groups the MQTT broker agrees to, separated by `:` or `,` (e.g. `X25519:P-256`); a client whose first key share is not among them is asked for another. Unset = Node\'s default list, with the post-quantum hybrid X25519MLKEM768 first.',
    }),
  },
  auth: {
    jwksUrl: setting<string | undefined>({
      env: 'TRUSTGATE_JWKS_URL', default: undefined, parse: httpsUrl,
      description: 'JWKS of an external identity provider. Unset = tokens from the local dev issuer (`trustgate token`).',
    }),
    jwtIssuer: setting<string | undefined>({
      env: 'TRUSTGATE_JWT_ISSUER', default: undefined, parse: optionalText,
      description: 'Required `iss` of external tokens (required when TRUSTGATE_JWKS_URL is set).',
    }),
    jwtAudience: setting<string | undefined>({
      env: 'TRUSTGATE_JWT_AUDIENCE', default: undefined, parse: optionalText,
      description: 'Required `aud` of external tokens (required when TRUSTGATE_JWKS_URL is set).',
    }),
  },
  registry: {
    maxCaCertificatesPerTenant: setting({
      env: 'TRUSTGATE_MAX_CA_CERTIFICATES', default: 2, parse: integer(1, 1000),
      description: 'CA certificates a tenant may hold, verified or not (MindConnect: 2).',
    }),
    clockSkewMs: setting({
      env: 'TRUSTGATE_CLOCK_SKEW_MS', default: 300_000, parse: integer(0, 3_600_000),
      description: 'Tolerance for certificates whose notBefore is slightly in the future, in milliseconds.',
    }),
  },
  audit: {
    retentionDays: setting({
      env: 'TRUSTGATE_AUDIT_RETENTION_DAYS', default: 365, parse: integer(1, 36_500),
      description: 'How long audit events are kept, in days (docs/audit.md): every node deletes older ones hourly, in batches of 1,000.',
    }),
  },
  commanding: {
    commandExpiryMs: setting({
      env: 'TRUSTGATE_COMMAND_EXPIRY_MS', default: 7 * 24 * 3_600_000, parse: integer(1000, 365 * 24 * 3_600_000),
      description: 'How long a command of the Commanding API (docs/commanding.md) waits for its agent, in milliseconds: one not delivered (PUBACKed) by then becomes EXPIRED and is never sent. Default 7 days.',
    }),
    sweepMs: setting({
      env: 'TRUSTGATE_COMMAND_SWEEP_MS', default: 5000, parse: integer(100, 600_000),
      description: 'How often each node expires commands, learns the other nodes\' cancellations and re-sends lost commands (TRUSTGATE_COMMAND_RESEND_MS), in milliseconds.',
    }),
    pendingPerAgent: setting({
      env: 'TRUSTGATE_COMMANDS_PENDING_PER_AGENT', default: 100, parse: integer(1, 10_000),
      description: 'How many undelivered commands one agent may have (docs/commanding.md): a delivery job naming an agent that already has this many is refused (409 deliveryJob.agentBacklogFull). Bounds what one SUBSCRIBE makes the broker publish.',
    }),
    retentionDays: setting({
      env: 'TRUSTGATE_COMMAND_RETENTION_DAYS', default: 30, parse: integer(1, 36_500),
      description: 'How long a delivery job is kept after nothing more can happen to it (every command delivered or final, no change for this many days), in days: every node deletes older ones hourly, in batches of 1,000.',
    }),
    resendMs: setting({
      env: 'TRUSTGATE_COMMAND_RESEND_MS', default: 10_000, parse: integer(100, 3_600_000),
      description: 'A command sent this long ago that never reached its connected, subscribed agent\'s connection (lost while the agent\'s new subscription reached the other nodes) is sent again, in milliseconds. One handed to the connection but not yet acknowledged is never sent twice.',
    }),
  },
  webhooks: {
    allowedHosts: setting<readonly string[]>({
      env: 'TRUSTGATE_WEBHOOK_ALLOWED_HOSTS', default: Object.freeze([]), parse: webhookHosts,
      description: 'Hosts webhooks may point at (docs/webhooks.md): comma-separated host names or IP addresses, matched exactly (no wildcards), checked at registration and before every delivery. A listed name may not resolve to a loopback, link-local (cloud metadata) or multicast address unless that address is listed too. Unset = no webhook may be registered.',
    }),
    allowHttp: setting({
      env: 'TRUSTGATE_WEBHOOK_ALLOW_HTTP', default: false, parse: yesNo,
      description: '`true` = webhooks may use plain http:// URLs (tests, a receiver on the same host). Default: https:// only.',
    }),
    maxPerTenant: setting({
      env: 'TRUSTGATE_WEBHOOKS_PER_TENANT', default: 10, parse: integer(1, 100),
      description: 'Webhooks a tenant may register.',
    }),
    timeoutMs: setting({
      env: 'TRUSTGATE_WEBHOOK_TIMEOUT_MS', default: 10_000, parse: integer(100, 60_000),
      description: 'How long one delivery attempt may take (connect, send, first bytes of the answer), in milliseconds; longer is a failed attempt.',
    }),
    retryBaseMs: setting({
      env: 'TRUSTGATE_WEBHOOK_RETRY_BASE_MS', default: 10_000, parse: integer(10, 3_600_000),
      description: 'Delay before the first retry of a failed delivery, in milliseconds; each next one doubles (at most an hour), less up to half of it at random.',
    }),
    maxAgeMs: setting({
      env: 'TRUSTGATE_WEBHOOK_MAX_AGE_MS', default: 86_400_000, parse: integer(1000, 604_800_000),
      description: 'How long after its event a delivery is retried before it is marked failed, in milliseconds (default 24 hours).',
    }),
    pollMs: setting({
      env: 'TRUSTGATE_WEBHOOK_POLL_MS', default: 500, parse: integer(10, 60_000),
      description: 'How often each node looks for due webhook deliveries, in milliseconds (one indexed query when there is nothing to send).',
    }),
    subscriptionsRefreshMs: setting({
      env: 'TRUSTGATE_WEBHOOK_REFRESH_MS', default: 10_000, parse: integer(100, 600_000),
      description: 'How often each node re-reads which tenants have webhooks for agent.connected / agent.disconnected / certificate.expiring, in milliseconds: a webhook created through another node of a cluster hears of those events from this node within this long (the node that created it at once; events written with a change, such as agent.onboarded, always).',
    }),
    concurrency: setting({
      env: 'TRUSTGATE_WEBHOOK_CONCURRENCY', default: 16, parse: integer(1, 256),
      description: 'Delivery attempts one node runs at once; at most 2 of them to the same webhook, so a slow receiver does not hold up the others.',
    }),
  },  cluster: {
    redisUrl: setting<string | undefined>({
      env: 'TRUSTGATE_REDIS_URL', default: undefined, parse: redisUrl,
      description: 'Redis shared by the nodes of a cluster (`redis://host:6379`): MQTT messages, persistent sessions and registry events. Unset = a single node. Needs a PostgreSQL TRUSTGATE_DATABASE_URL.',
    }),
    redisPrefix: setting({
      env: 'TRUSTGATE_REDIS_PREFIX', default: 'trustgate:', parse: redisPrefix,
      description: 'Prefix of every Redis key and channel trustgate uses, so several clusters can share one Redis.',
    }),
    nodeId: setting<string | undefined>({
      env: 'TRUSTGATE_NODE_ID', default: undefined, parse: nodeId,
      description: 'This node\'s name in a cluster, stable across restarts (a restarting node marks only its own agents offline). Unset = the host name.',
    }),
    workers: setting({
      env: 'TRUSTGATE_WORKERS', default: 1, parse: integer(1, 64),
      description: 'Broker processes on this machine (`trustgate serve --workers N` says the same), each a cluster node named `<TRUSTGATE_NODE_ID>-w<i>`, all on the same MQTT and HTTP ports (Linux `SO_REUSEPORT`: the kernel spreads new connections); a supervisor restarts a worker that dies. More than 1 needs TRUSTGATE_REDIS_URL and a PostgreSQL TRUSTGATE_DATABASE_URL, and Linux (decision 0031). 1 = one process, no supervisor.',
    }),
    drainMs: setting({
      env: 'TRUSTGATE_DRAIN_MS', default: 5000, parse: integer(0, 600_000),
      description: 'On SIGTERM, after TRUSTGATE_SHUTDOWN_DELAY_MS: time over which the connected clients are disconnected evenly (the first at once, the last about this long later) so they move to other nodes, in milliseconds; `/readyz` answers 503 meanwhile. In a cluster only (a single node closes its connections at once); 0 = at once.',
    }),
    shutdownDelayMs: setting({
      env: 'TRUSTGATE_SHUTDOWN_DELAY_MS', default: 0, parse: integer(0, 600_000),
      description: 'On SIGTERM: how long `/readyz` answers 503 while the node still accepts MQTT connections and API requests, before it drains, in milliseconds, so a load balancer sees the node leave (set it to the balancer\'s health check interval times its unhealthy threshold). Also on a single node.',
    }),
    busPingMs: setting({
      env: 'TRUSTGATE_CLUSTER_PING_MS', default: 5000, parse: integer(10, 600_000),
      description: 'How often a node sends a ping through Redis to its own cluster-bus subscription, in milliseconds. After twice this long without hearing from it (a connection silently dropped by the network), /readyz reports `cluster` not ok and the node reconnects, then resyncs its trust state from the database.',
    }),
    convergenceMs: setting({
      env: 'TRUSTGATE_CLUSTER_CONVERGENCE_MS', default: 5000, parse: integer(100, 600_000),
      description: 'In a cluster: how often each node checks the database for trust changes it may have missed (an event lost with Redis away or a node killed before publishing it), in milliseconds; a node follows the database\'s trust state within about this long plus one reload. Ignored on a single node.',
    }),
  },
  limits: {
    rateLimits: setting<RateLimitPolicy>({
      env: 'TRUSTGATE_RATE_LIMITS', default: MINDCONNECT_RATE_LIMITS, parse: parseRateLimitPolicy,
      description: 'REST rate limits and MQTT connect limits and bans: `mindconnect` (MindConnect\'s published REST table, 1 connect per second per client id with a small burst; docs/limits.md), `off` (none of them; the broker\'s quotas stay), or the path of a JSON file with your own (docs/limits.md).',
    }),
  },
  metrics: {
    token: setting<string | undefined>({
      env: 'TRUSTGATE_METRICS_TOKEN', default: undefined, parse: metricsToken,
      description: 'Unset = `/metrics` is open to anyone who reaches the HTTP port and names no tenant or CA. Set (at least 16 characters) = `/metrics` answers only `Authorization: Bearer <this value>` (401 otherwise); give the same value to Prometheus (`authorization: {credentials: ...}`).',
    }),
    buildCommit: setting<string | undefined>({
      env: 'TRUSTGATE_BUILD_COMMIT', default: undefined, parse: buildCommit,
      description: 'The commit shown in `trustgate_build_info` (e.g. set by your image build). Unset = read from git at start when trustgate runs from a git checkout, else `unknown`.',
    }),
  },
  log: {
    level: setting({
      env: 'TRUSTGATE_LOG_LEVEL', default: 'info', parse: logLevel,
      description: 'Log level: fatal, error, warn, info, debug, trace or silent.',
    }),
    format: setting<LogFormat>({
      env: 'TRUSTGATE_LOG_FORMAT', default: 'auto', parse: logFormat,
      description: 'Log format on stdout: `json` (one JSON object a line, for log collectors), `pretty` (one human-readable line per event), or `auto` = pretty when stdout is a terminal, JSON otherwise.',
    }),
  },
} as const;

type Schema = typeof configSchema;
export type Config = {
  readonly [G in keyof Schema]: { readonly [K in keyof Schema[G]]: Schema[G][K] extends Setting<infer T> ? T : never };
};
