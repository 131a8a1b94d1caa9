import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import {
  cachingTokenVerifier, createDevTokenVerifier, createExternalTokenVerifier, createSignInLink, mintDevToken, type SignInLink, type TokenVerifier,
} from '../auth/index.ts';
import {
  backplaneMessageDropReasons, createClusterBus, createRateLimitRedis, createRedisBrokerBackplane, createRedisProbe, type RedisBrokerBackplane,
} from '../cluster/index.ts';
import { ConfigError, MAX_NODE_ID_LENGTH, type Config } from '../config/index.ts';
import { CONSOLE_PATH, createHttpServer, RateLimitPolicyError, type ReadinessReport } from '../http/index.ts';
import { createCommanding, createIssueAgentToken, InMemoryAgentTokenRequestLimit, createRegistry, followRegistryEvents, pollTrustChanges, publishThroughOutbox, relayTrustEvents, TrustIndex, createWebhookUseCases } from '../registry/index.ts';
import { startMqttBroker } from '../mqtt/index.ts';
import { Counter, Registry as MetricsRegistry, collectDefaultMetrics } from 'prom-client';
import { loadBrokerTlsIdentity } from './broker-tls-identity.ts';
import { systemClock, type Clock, type TenantId } from '../shared/index.ts';
import {
  KyselyAgentCertificateStore, KyselyAgentStore, KyselyAuditTrail, KyselyCaCertificateStore, KyselyDeliveryJobStore, KyselyManagedCaStore, KyselyRevocationStore, KyselyTrustChangeCounter, KyselyTrustEventOutbox, openDatabase,
  countAgentCertificatesExpiringBefore, listAgentCertificatesExpiringBetween, listCaExpiries, KyselyWebhookOutbox, KyselyWebhookStore, type Database, type OpenDatabaseOptions,
} from '../storage/index.ts';
import { createWebhookEventSink } from './webhook-event-sink.ts';
import { startWebhookDispatcher, type WebhookDispatcher } from './webhook-dispatcher.ts';
import { expiringEventId } from './expiring-event-id.ts';
import { startAgentCertificateExpiringEvents } from './agent-certificate-expiring-events.ts';
import { registerExpiryMetrics } from './expiry-metrics.ts';
import { startCaExpiryWarnings } from './ca-expiry-warnings.ts';
import { startAuditRetention } from './audit-retention.ts';
import { startCommandRetention } from './command-retention.ts';
import { listenOrExplain } from './listen-error.ts';
import { openDataDirKeys } from './open-data-dir-keys.ts';
import { agentTokenSignerOf, openAgentTokenKeyRing } from './agent-token-keys.ts';
import { SQLITE_DATABASE_FILE } from './back-up-data-dir.ts';
import { startAppMetrics } from './app-metrics.ts';

const SHUTDOWN_GRACE_MS = 3000;
const WEBHOOK_CONCURRENCY_PER_TARGET = 2;
/** Delivered and failed deliveries stay listed (GET /webhooks/{id}/deliveries) this long. */
const WEBHOOK_KEEP_FINISHED_MS = 7 * 86_400_000;

export interface RunningApp {
  readonly httpUrl: string;
  readonly httpPort: number;
  readonly mqttPort: number;
  /** The generated broker root CA (PEM), undefined with the operator's own certificate. */
  readonly brokerRootCaPem: string | undefined;
  /** Where the node is in its life: 'serving' until close(), then 'shutdownDelay' (/readyz 503,
   *  listeners open), 'draining' (clients being disconnected), 'closing', 'closed'. */
  readonly phase: AppPhase;
  /** Graceful shutdown: /readyz 503 for TRUSTGATE_SHUTDOWN_DELAY_MS with the listeners open, then
   *  the drain (cluster), then everything closes; the HTTP server answers until the broker has
   *  closed. Logs "shutdown complete" at the end. A second call waits for the first. */
  close(): Promise<void>;
}

export type AppPhase = 'serving' | 'shutdownDelay' | 'draining' | 'closing' | 'closed';

export interface AppOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Set for a worker of `serve --workers N` (decision 0031): both listeners share their ports with
   *  the other workers (SO_REUSEPORT), and every metric carries `worker="<index>"`. */
  readonly worker?: { readonly index: number };
  /** Tests only: a slow fsync, or a handle on the SQLite worker thread (storage/sqlite-worker-driver.ts). */
  readonly sqliteWorkerForTests?: OpenDatabaseOptions['sqliteWorkerForTests'];
}

const DATABASE_CHECK_TIMEOUT_MS = 2000;

/** The host name, cut to what TRUSTGATE_NODE_ID allows (less `reserve` characters, for a worker's suffix). */
export const defaultNodeId = (reserve = 0): string => hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, MAX_NODE_ID_LENGTH - reserve) || 'node';

// /readyz is public: it says what is wrong, not the driver's text (host names, addresses, ports of
// the database); that goes to the log, once per change of state, so a probe every few seconds
// does not repeat it.
const databaseCheck = (logger: Logger) => {
  let lastProblem: string | undefined;
  return async (db: Kysely<Database>): Promise<string> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        sql`select 1`.execute(db),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${DATABASE_CHECK_TIMEOUT_MS} ms`)), DATABASE_CHECK_TIMEOUT_MS); }),
      ]);
      if (lastProblem !== undefined) logger.info('readiness: the database answers again');
      lastProblem = undefined;
      return 'ok';
    } catch (error) {
      const problem = (error as Error).message;
      if (problem !== lastProblem) logger.warn({ err: problem }, 'readiness: the database does not answer');
      lastProblem = problem;
      return 'unreachable (details in the log)';
    } finally {
      clearTimeout(timer);
    }
  };
};

export const databaseUrlOf = (config: Config): string =>
  config.storage.databaseUrl ?? `sqlite:${join(resolve(config.storage.dataDir), SQLITE_DATABASE_FILE)}`;

/** The console's sign-in link (decision 0026): the tenant it signs in to, how long it works, how long its token lives. */
export const CONSOLE_SIGN_IN_TENANT = 'default';
const CONSOLE_SIGN_IN_LINK_MS = 3_600_000;
const CONSOLE_SIGN_IN_TOKEN_SECONDS = 8 * 3600;

const reachableFromLoopback = (host: string): boolean =>
  host === '0.0.0.0' || host === '::' || host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

// The composition root: the only place that knows every module. Starts in dependency order and
// closes in reverse; a failure half-way closes what was already started.
export const startApp = async (config: Config, { logger, clock = systemClock, worker, sqliteWorkerForTests }: AppOptions): Promise<RunningApp> => {
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        logger.error({ err: error }, 'error while closing');
      }
    }
  };
  try {
    const dataDir = resolve(config.storage.dataDir);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });

    const db: Kysely<Database> = await openDatabase({
      url: databaseUrlOf(config),
      onConnectionError: (error) => logger.warn({ err: error.message }, 'a database connection was lost; the next query opens a new one'),
      sqliteWorkerForTests,
    });
    closers.push(() => db.destroy());

    // Before anything uses them: a data dir that does not belong to this database refuses the start.
    const dataDirKeys = await openDataDirKeys({ dataDir, db, usesDevIssuer: !config.auth.jwksUrl, clock });
    let tokens: TokenVerifier;
    let devJwks;
    let consoleSignInLink: SignInLink | undefined;
    if (config.auth.jwksUrl) {
      tokens = cachingTokenVerifier(createExternalTokenVerifier({ jwksUrl: config.auth.jwksUrl, issuer: config.auth.jwtIssuer!, audience: config.auth.jwtAudience! }));
      logger.info({ jwksUrl: config.auth.jwksUrl }, 'accepting tokens from an external identity provider');
    } else {
      const key = dataDirKeys.devSigningKey!;
      tokens = cachingTokenVerifier(createDevTokenVerifier(key.publicJwk));
      devJwks = { keys: [key.publicJwk] };
      // Issue 17: a new user signs in to the console from the start log, with no terminal (decision 0026).
      // Only where a browser on this machine is a loopback peer: a server bound to one other address never is.
      if (reachableFromLoopback(config.http.host)) consoleSignInLink = createSignInLink({
        tenant: CONSOLE_SIGN_IN_TENANT, ttlMs: CONSOLE_SIGN_IN_LINK_MS, now: () => clock.now(),
        mint: (tenant) => mintDevToken(key, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: CONSOLE_SIGN_IN_TOKEN_SECONDS, subject: `console-link@${tenant}` }),
      });
      logger.info('accepting tokens from the local dev issuer (trustgate token --tenant <tenant>)');
    }

    // Issue 19 part 1: agents' access tokens, signed with keys of their own kept in the database.
    const agentTokenKeys = await openAgentTokenKeyRing(db, dataDirKeys.sealer, { clock });

    const tlsIdentity = await loadBrokerTlsIdentity({
      dataDir, certFile: config.tls.certFile, keyFile: config.tls.keyFile, hostnames: config.tls.hostnames,
    });
    for (const note of tlsIdentity.notes) logger.info({ source: tlsIdentity.source }, note);

    const metrics = new MetricsRegistry();
    // Behind one shared port a scrape reaches any one worker: the label tells whose series it got.
    if (worker) metrics.setDefaultLabels({ worker: String(worker.index) });
    collectDefaultMetrics({ register: metrics });

    // Issue 16 part 1 (docs/audit.md): one log line per entry under component "audit".
    const audit = new KyselyAuditTrail(db, logger.child({ component: 'audit' }));
    const caCertificates = new KyselyCaCertificateStore(db);
    // An agent's update that fails for its own reason (not an outage: those are retried) is dropped.
    const agentUpdatesDropped = new Counter({
      name: 'trustgate_agent_record_updates_dropped_total',
      help: 'Agents whose queued online/last-connected update was dropped because the database refused it (not for an outage, which is retried)',
      registers: [metrics],
    });
    const agents = new KyselyAgentStore(db, {
      onDeferredWriteError: (error) => logger.error({ err: error }, 'could not write agent online/last-connected updates'),
      onDeferredWriteDropped: () => agentUpdatesDropped.inc(),
      // A single node makes every agent write itself; cluster nodes read the shared database.
      keepsKnownAgents: config.cluster.redisUrl === undefined,
    });
    // Runs after the broker has closed its sessions (closers run in reverse), before the database closes.
    closers.push(() => agents.close());
    const managedCas = new KyselyManagedCaStore(db, dataDirKeys.sealer);
    const agentCertificates = new KyselyAgentCertificateStore(db);
    const revocations = new KyselyRevocationStore(db);
    const trustSources = { caCertificates, managedCas, agentCertificates, revocations };
    const nodeId = config.cluster.nodeId ?? defaultNodeId();
    const redisUrl = config.cluster.redisUrl;
    // No session of this node survives its restart; agents reconnect and are marked online again.
    // In a cluster, the other nodes' agents stay as they are.
    await agents.markAllOffline(redisUrl ? nodeId : undefined);

    const events = createClusterBus({ redisUrl, redisPrefix: config.cluster.redisPrefix, nodeId, pingIntervalMs: config.cluster.busPingMs, logger });
    // The index follows events from before its first load on: one that lands during the load is
    // applied after it, never lost between the load and the subscription.
    const trustIndex = new TrustIndex();
    // In a cluster an event can be lost (a node killed between its commit and its publish, Redis
    // away until the publisher gave up): the database's trust change counter bounds how long this
    // node can miss one (decision 0018). A single node's events never leave the process.
    const follower = followRegistryEvents({
      feed: events, trustIndex, sources: trustSources, agents, clock, log: logger, changes: redisUrl ? new KyselyTrustChangeCounter(db) : undefined, audit,
    });
    await events.start();
    closers.push(() => events.close());
    await follower.load();
    if (redisUrl) {
      const poll = pollTrustChanges({ follower, intervalMs: config.cluster.convergenceMs, log: logger });
      // Stopped before the bus and the database close (closers run in reverse).
      closers.push(() => poll.stop());
    }
    // Trust events are written with their changes (the outbox) and sent from there until Redis took
    // them, by this node or any other (decision 0019); a single node has nothing to send and only
    // empties it. Stopped before the bus closes (closers run in reverse).
    const relay = relayTrustEvents({ outbox: new KyselyTrustEventOutbox(db), bus: events, log: logger.child({ component: 'trust-event-relay' }) });
    closers.push(() => relay.stop());
    logger.info({ caCertificates: trustIndex.size, revokedAgentCertificates: trustIndex.revokedCount }, 'trust index loaded');
    // Only data from before one-tenant-per-key covered managed CAs (decision 0013) can hold one:
    // the broker refuses those keys' certificates (mqtt.caKeyConflict) rather than guess the tenant.
    for (const conflict of trustIndex.keyConflicts()) {
      logger.error(conflict, 'a CA key is trusted by more than one tenant: its agents are refused until the CA certificate registered by mistake is deleted');
    }

    const registry = createRegistry({
      caCertificates,
      agents,
      managedCas,
      agentCertificates,
      revocations,
      trustIndex,
      events: publishThroughOutbox(events, relay),
      audit,
      clock,
      settings: {
        maxCaCertificatesPerTenant: config.registry.maxCaCertificatesPerTenant,
        clockSkewMs: config.registry.clockSkewMs,
      },
    });

    // Issue 19 part 2 (docs/commanding.md): delivery jobs, delivered by the broker.
    const deliveryJobs = new KyselyDeliveryJobStore(db);
    // Issue 19 part 3 (docs/webhooks.md, decision 0035): events out. Changes write their events in
    // their transactions (the outbox); the dispatcher on every node sends them. The sink takes the
    // events no change carries, answering from memory for tenants without such webhooks.
    const webhookSettings = config.webhooks;
    const webhookPolicy = { allowedHosts: webhookSettings.allowedHosts, allowsHttp: webhookSettings.allowHttp };
    const webhookOutbox = new KyselyWebhookOutbox(db, dataDirKeys.sealer);
    let dispatcher: WebhookDispatcher | undefined;
    const webhookEvents = await createWebhookEventSink({
      outbox: webhookOutbox, refreshMs: webhookSettings.subscriptionsRefreshMs, log: logger.child({ component: 'webhooks' }), onEnqueued: () => dispatcher?.kick(),
    });
    closers.push(async () => webhookEvents.close());
    const webhooks = createWebhookUseCases({
      store: new KyselyWebhookStore(db, dataDirKeys.sealer), clock, settings: { policy: webhookPolicy, maxPerTenant: webhookSettings.maxPerTenant }, onChanged: (tenant) => void webhookEvents.refreshTenant(tenant),
    });
    dispatcher = startWebhookDispatcher({
      outbox: webhookOutbox, log: logger.child({ component: 'webhooks' }), metrics, now: () => clock.now(),
      settings: {
        policy: webhookPolicy, timeoutMs: webhookSettings.timeoutMs, pollMs: webhookSettings.pollMs, retryBaseMs: webhookSettings.retryBaseMs,
        maxAgeMs: webhookSettings.maxAgeMs, concurrency: webhookSettings.concurrency, perTarget: WEBHOOK_CONCURRENCY_PER_TARGET, keepFinishedMs: WEBHOOK_KEEP_FINISHED_MS,
      },
    });
    // Closed before the database (closers run in reverse); in-flight attempts are aborted and due again at once.
    closers.push(() => dispatcher!.close());

    let backplane: RedisBrokerBackplane | undefined;
    if (redisUrl) {
      const dropped = new Counter({
        name: 'trustgate_cluster_messages_dropped_total',
        help: 'Messages dropped by the MQTT broker backplane, by reason: malformed ones read from its Redis channels, or (redisUnreachable) ones published on this node while Redis is unreachable',
        labelNames: ['reason'] as const,
        registers: [metrics],
      });
      for (const reason of backplaneMessageDropReasons) dropped.labels(reason).inc(0);
      const forwarded = new Counter({
        name: 'trustgate_cluster_messages_forwarded_total',
        help: 'MQTT messages this node sent through Redis to other nodes, one per receiving node: only to nodes with a matching subscription (route table)',
        registers: [metrics],
      });
      backplane = createRedisBrokerBackplane({
        url: redisUrl, logger, prefix: config.cluster.redisPrefix, nodeId, heartbeatMs: config.mqtt.heartbeatMs,
        onMessageDropped: (reason) => dropped.labels(reason).inc(), onMessageForwarded: (messages) => forwarded.inc(messages),
      });
      // Closed after the broker (closers run in reverse): aedes never closes the persistence.
      closers.push(() => backplane!.close());
      await backplane.start();
    }
    // One request per agent per minute: in Redis in a cluster (every node), in memory on one node.
    const issueAgentToken = createIssueAgentToken({
      signer: agentTokenSignerOf(agentTokenKeys), limit: backplane?.agentTokenLimit ?? new InMemoryAgentTokenRequestLimit(), audit, clock,
    });
    const mqttListener = { what: 'the MQTT broker', hostVariable: 'TRUSTGATE_MQTT_HOST', portVariable: 'TRUSTGATE_MQTT_PORT', host: config.mqtt.host, port: config.mqtt.port };
    // The HTTP server closes right after the broker (closers run in reverse), so /readyz answers
    // 503 through the whole drain instead of refusing connections.
    let closeHttp: (() => Promise<void>) | undefined;
    const broker = await listenOrExplain(mqttListener, () => startMqttBroker({
      registry, tokens, logger, metrics, host: config.mqtt.host, port: config.mqtt.port, nodeId, backplane, heartbeatMs: config.mqtt.heartbeatMs,
      quotas: config.mqtt, tenantMetrics: config.metrics.token !== undefined, reusePort: worker !== undefined, connectLimits: config.limits.rateLimits.mqtt, audit, issueAgentToken,
      webhookEvents, commands: { jobs: deliveryJobs, settings: { expiryMs: config.commanding.commandExpiryMs, sweepMs: config.commanding.sweepMs, resendAfterMs: config.commanding.resendMs } },
      tls: { certificateChainPem: tlsIdentity.certificateChainPem, privateKeyPem: tlsIdentity.privateKeyPem, groups: config.tls.groups },
    }));
    closers.push(async () => {
      try {
        await broker.close();
      } finally {
        await closeHttp?.();
      }
    });
    follower.attachSessions(broker);
    const commanding = createCommanding({
      jobs: deliveryJobs, clock, audit, commandExpiryMs: config.commanding.commandExpiryMs, dispatch: broker.commandDispatch,
      maxPendingPerAgent: config.commanding.pendingPerAgent,
      isAgentClientId: (tenant, clientId) => registry.isAgentClientId(tenant, clientId),
    });
    logger.info({ port: broker.port, nodeId }, 'trustgate MQTT broker listening (mutual TLS)');

    // Read by /readyz (and whatever else wants to know whether the node is leaving: isDraining()).
    let phase: AppPhase = 'serving';
    const isDraining = (): boolean => phase !== 'serving';
    const checkDatabase = databaseCheck(logger);
    const readiness = async (): Promise<ReadinessReport> => {
      const checks: Record<string, string> = {
        node: isDraining() ? 'draining for shutdown' : 'ok',
        database: await checkDatabase(db),
      };
      const cluster = events.readiness();
      if (cluster !== undefined) checks.cluster = cluster;
      // The broker's own Redis connections (decision 0021): without them it refuses MQTT connections.
      if (checks.cluster === 'ok' && backplane?.isAvailable() === false) checks.cluster = 'Redis unreachable by the MQTT broker: new MQTT connections are refused';
      return { isReady: Object.values(checks).every((check) => check === 'ok'), checks };
    };
    const appMetrics = await startAppMetrics({
      registry: metrics, db, redis: redisUrl ? createRedisProbe({ url: redisUrl, nodeId }) : undefined, readiness,
      isDraining, buildCommit: config.metrics.buildCommit, logger,
    });
    closers.push(() => appMetrics.close());
    // Issue 15, part 3: certificate expiry in /metrics and, daily, in the log.
    registerExpiryMetrics({
      registry: metrics, namesTenants: config.metrics.token !== undefined, now: () => clock.now(), logger,
      source: { listCaExpiries: () => listCaExpiries(db), countAgentCertificatesExpiringBefore: (before) => countAgentCertificatesExpiringBefore(db, before) },
    });
    const caExpiryWarnings = startCaExpiryWarnings({
      listCaExpiries: () => listCaExpiries(db), logger, now: () => clock.now(),
      // certificate.expiring: once per CA certificate and day, however many nodes check (the id is the same).
      onExpiring: (ca, daysLeft) => void webhookEvents.emitOnce({
        type: 'certificate.expiring', tenant: ca.tenant as TenantId, time: clock.now(),
        data: { kind: 'caCertificate', caCertificateId: ca.caCertificateId, notAfter: ca.notAfter.toISOString(), daysLeft },
      }, expiringEventId(`caCertificate:${ca.caCertificateId}`, clock.now())),
    });
    closers.push(() => caExpiryWarnings.close());
    const agentExpiringEvents = startAgentCertificateExpiringEvents({
      sink: webhookEvents, logger, now: () => clock.now(),
      list: (tenants, from, to, limit) => listAgentCertificatesExpiringBetween(db, tenants, from, to, limit),
    });
    closers.push(() => agentExpiringEvents.close());
    const auditRetention = startAuditRetention({ store: audit, retentionDays: config.audit.retentionDays, logger, now: () => clock.now() });
    closers.push(() => auditRetention.close());
    const commandRetention = startCommandRetention({ store: deliveryJobs, retentionDays: config.commanding.retentionDays, logger, now: () => clock.now() });
    closers.push(() => commandRetention.close());

    // Issue 16: REST rate limits per tenant and route; in a cluster counted in Redis on a
    // connection of their own that fails fast (decision 0024).
    const { rateLimits } = config.limits;
    logger.info({ rateLimits: rateLimits.source, rest: rateLimits.rest !== undefined, shared: rateLimits.rest !== undefined && redisUrl !== undefined }, 'REST rate limits');
    const rateLimitRedis = rateLimits.rest && redisUrl ? createRateLimitRedis({ url: redisUrl, nodeId, logger }) : undefined;
    if (rateLimitRedis) {
      closers.push(() => rateLimitRedis.close());
      await rateLimitRedis.start();
    }
    const http: FastifyInstance = await createHttpServer({
      registry, tokens, logger, devJwks, agentJwks: () => agentTokenKeys.publicJwks(), metrics, metricsToken: config.metrics.token, brokerRootCaPem: tlsIdentity.rootCaPem, brokerCertificateIssuer: tlsIdentity.issuer,
      broker: { port: broker.port, hostnames: tlsIdentity.hostnames }, readiness, bans: broker.bans,
      rateLimits: rateLimits.rest ? { rest: rateLimits.rest, redis: rateLimitRedis?.connection, redisPrefix: config.cluster.redisPrefix } : undefined,
      // REST rate-limit hits go to the same trail (issue 16 part 2 records them, aggregated).
      auditTrail: audit,
      consoleSignInLink,
      commanding,
      webhooks,
    }).catch((error: unknown) => {
      // Only the API knows its routes: a policy file naming one it lacks is found here, and is the operator's to fix.
      throw error instanceof RateLimitPolicyError ? new ConfigError(`Invalid configuration:\n  ${error.message}`, [error.message]) : error;
    });
    closeHttp = async () => {
      // In-flight requests get a grace period; a client stalled mid-request must not hold the
      // shutdown past what an orchestrator waits before SIGKILL.
      const force = setTimeout(() => http.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      try {
        await http.close();
      } finally {
        clearTimeout(force);
      }
    };
    const httpListener = { what: 'the REST API', hostVariable: 'TRUSTGATE_HTTP_HOST', portVariable: 'TRUSTGATE_HTTP_PORT', host: config.http.host, port: config.http.port };
    // Fastify hands these options to net.Server#listen whole; its type does not list reusePort yet.
    const listenOptions = { host: config.http.host, port: config.http.port, reusePort: worker !== undefined };
    await listenOrExplain(httpListener, () => http.listen(listenOptions));
    const address = http.server.address();
    const httpPort = typeof address === 'object' && address ? address.port : config.http.port;
    const shownHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host;
    const httpUrl = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${httpPort}`;
    // The console's address on the line a new user reads first (docs/console.md).
    logger.info({ url: httpUrl, port: httpPort, dataDir, console: `${httpUrl}${CONSOLE_PATH}/` }, 'trustgate HTTP API listening');
    // Where a person goes next (issue 17), with how to sign in. A token never goes into a log: with
    // the dev issuer, a one-time code that the page trades for one, from this machine (decision 0026).
    if (consoleSignInLink !== undefined) {
      logger.info(`console: open ${httpUrl}${CONSOLE_PATH}/#signin=${consoleSignInLink.code} to sign in to tenant "${consoleSignInLink.tenant}" (works once, for an hour, in a browser on this machine; later: npx trustgate console --tenant <tenant>)`);
    } else {
      logger.info(`console: ${httpUrl}${CONSOLE_PATH}/ (sign in with a token: ${config.auth.jwksUrl ? 'one of your identity provider' : 'npx trustgate console --tenant <tenant> prints a link'})`);
    }
    let closing: Promise<void> | undefined;
    const shutdown = async (): Promise<void> => {
      const startedAt = performance.now();
      const { shutdownDelayMs, drainMs } = config.cluster;
      const drains = redisUrl !== undefined && drainMs > 0;
      phase = 'shutdownDelay';
      logger.info({ shutdownDelayMs, drainMs: drains ? drainMs : 0 }, 'shutting down: /readyz answers 503 from now on');
      // The balancer needs a few failed health checks to take the node out: until then it may
      // still send new connections, which are served.
      if (shutdownDelayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, shutdownDelayMs));
        logger.info({ shutdownDelayMs }, 'shutdown delay over: closing the listeners');
      }
      // In a cluster, agents have somewhere to go: they are disconnected evenly over the drain
      // time instead of all at once.
      phase = 'draining';
      if (drains) await broker.drain(drainMs);
      phase = 'closing';
      await closeAll();
      phase = 'closed';
      logger.info({ durationMs: Math.round(performance.now() - startedAt) }, 'shutdown complete');
    };
    return {
      httpUrl, httpPort, mqttPort: broker.port, brokerRootCaPem: tlsIdentity.rootCaPem,
      get phase() {
        return phase;
      },
      close() {
        closing ??= shutdown();
        return closing;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
};
