import type { EventEmitter } from 'node:events';
import { createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { Aedes, type Client, type ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import type { TokenVerifier } from '../auth/index.ts';
import type { AgentSessions, AuditTrail, CommandDispatch, DeliveryJobStore, IssueAgentToken, MqttBans, Registry, WebhookEventSink } from '../registry/index.ts';
import type { AgentCensus } from './agents-per-tenant.ts';
import { InMemoryConnectBanStore, type ConnectBanStore } from './connect-ban-store.ts';
import { installConnectGuard } from './connect-guard.ts';
import type { ConnectLimitPolicy } from './connect-limits.ts';
import { createAuthenticate } from './authenticate-client.ts';
import { createAuthorizeForward, createAuthorizePublish, createAuthorizeSubscribe } from './authorize-packets.ts';
import { createBrokerMetrics } from './broker-metrics.ts';
import { connackFirst } from './connack-first.ts';
import { boundConnack } from './connack-bound.ts';
import { disconnectCauseOf, markDisconnect, successorOf, trackDisconnectReasons } from './disconnect-reasons.ts';
import { onClientGone, onClientReady, pairClientEvents } from './client-lifecycle.ts';
import { installBrokerQuotas, type BrokerQuotaSettings } from './broker-quotas.ts';
import { guardPackets } from './guard-packets.ts';
import { guardStoredMessages } from './message-walls.ts';
import { installCertificateRenewal } from './certificate-renewal.ts';
import { agentTokenOutcomes, installAgentTokenRequests } from './agent-token-requests.ts';
import { CanceledCommands, MAX_CANCELED_IDS } from './canceled-commands.ts';
import { CapHits } from './cap-hits.ts';
import { installCommandDelivery, type CommandDelivery, type CommandDeliverySettings } from './command-delivery.ts';
import { SessionDeadlines } from './session-deadlines.ts';
import { InMemoryQuotaLedger, type QuotaLedger } from './quota-ledger.ts';
import { SessionRegistry } from './session-registry.ts';
import { HandshakeDeadlines } from './handshake-deadlines.ts';
import { takePeerCertificate } from './peer-certificate.ts';
import { createTlsHandshakeFailures, tlsHandshakeFailureReason } from './tls-handshake-failures.ts';
import { registerTenantMetrics } from './tenant-metrics.ts';
import { registerTrafficMetrics } from './traffic-metrics.ts';

export interface MqttBrokerOptions {
  readonly registry: Registry;
  readonly tokens: TokenVerifier;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly host: string;
  readonly port: number;
  /** `groups`: TLS key-exchange groups (TRUSTGATE_TLS_GROUPS, OpenSSL's `ecdhCurve`); undefined = Node's default list. */
  readonly tls: { readonly certificateChainPem: string; readonly privateKeyPem: string; readonly groups?: string | undefined };
  /** This node's id (TRUSTGATE_NODE_ID): the prefix of its agents' session ids. */
  readonly nodeId: string;
  /** Shared with the other nodes (Redis); without it, sessions and messages stay in this process. */
  readonly backplane?: MqttBrokerBackplane;
  /** aedes' heartbeat (TRUSTGATE_MQTT_HEARTBEAT_MS): the wills of a node unheard for 3 are published. */
  readonly heartbeatMs?: number;
  /** Caps on what one client or tenant may hold (broker-quotas.ts). */
  readonly quotas: BrokerQuotaSettings;
  /** Export series labelled with tenant names: only when /metrics is protected (TRUSTGATE_METRICS_TOKEN). */
  readonly tenantMetrics?: boolean;
  /** Connect limits and bans (TRUSTGATE_RATE_LIMITS' `mqtt`); undefined = none (connect-guard.ts). */
  readonly connectLimits?: ConnectLimitPolicy | undefined;
  /** Where refused connections (aggregated), bans and lifts are recorded. */
  readonly audit?: AuditTrail | undefined;
  /** Listen with SO_REUSEPORT beside the other workers of `serve --workers N` (decision 0031). */
  readonly reusePort?: boolean;
  /** Answers agents' access token requests on o/agm_v3/t (agent-token-requests.ts); undefined (a broker built without them, in tests) = still consumed, answered `internal`. */
  readonly issueAgentToken?: IssueAgentToken | undefined;
  /** MindConnect commanding (command-delivery.ts): the stored commands this broker delivers. */
  readonly commands?: { readonly jobs: DeliveryJobStore; readonly settings: CommandDeliverySettings } | undefined;
  /** agent.connected / agent.disconnected webhook events (decision 0035); it answers from memory for a tenant without such webhooks. */
  readonly webhookEvents?: WebhookEventSink | undefined;
}

/**
 * What aedes shares between the brokers of a cluster: its `id` (unique per broker process: it
 * names the `$SYS/<id>/…` topics by which brokers take over each other's client ids, and keys
 * stored QoS 1 packets), the message emitter every PUBLISH enters (routed between nodes), and the session persistence.
 * The owner closes `persistence` after `close()`; aedes closes `mq` itself.
 */
export interface MqttBrokerBackplane {
  readonly id: string;
  readonly mq: object;
  readonly persistence: object;
  /** Counts behind the caps, shared like the persistence. */
  readonly quotaLedger: QuotaLedger;
  /** False while it cannot reach what it shares (Redis): CONNECTs get CONNACK 3, SUBSCRIBEs 0x80 (decision 0021). */
  isAvailable?(): boolean;
  /** The heartbeat its route table counts on (decision 0028), used when `heartbeatMs` is not given. */
  readonly heartbeatMs?: number;
  /** Connect bans shared by the nodes (connect-ban-store.ts). */
  readonly banStore?: ConnectBanStore;
  /** The other nodes' connected agents per tenant (agents-per-tenant.ts). */
  readonly agentCensus?: AgentCensus;
}

/** As AgentSessions, the registry's event follower closes the sessions whose trust is withdrawn
 *  (at once), and re-checks the live ones after a cluster node missed events. */
export interface RunningMqttBroker extends AgentSessions {
  readonly port: number;
  /** The connect bans, as the REST API lists and lifts them. */
  readonly bans: MqttBans;
  /** Publishes and withdraws commands (undefined without `commands`). */
  readonly commandDispatch: CommandDispatch | undefined;
  /** Graceful shutdown: stops accepting connections, then disconnects the connected clients
   *  evenly over `durationMs` (the first at once, the last about `durationMs` later), so agents
   *  reconnect to other nodes without a stampede. */
  drain(durationMs: number): Promise<void>;
  close(): Promise<void>;
}

const HANDSHAKE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** An admitted CONNECT not answered within this gets CONNACK 3 (connack-bound.ts): a cluster's Redis is away. */
export const CONNACK_BOUND_MS = 5_000;
const BACKPLANE_CLOSE_BOUND_MS = 3_000;
/** The shortest pause between two drain batches: more clients than `durationMs / DRAIN_MIN_STEP_MS`
 *  are disconnected several per step. */
const DRAIN_MIN_STEP_MS = 10;
/** Client ids named in one "closed sessions after a trust change" line, at most. */
const CLIENT_IDS_LOGGED = 20;

// aedes over node:tls with mutual TLS. The TLS layer asks for a client certificate but neither
// requires nor chain-checks it (no `ca` list: the CertificateRequest names no tenant's CA, and
// trust changes need no context rebuild); the registry decides in `authenticate`. The TLS
// handshake still proves the client holds the certificate's private key (CertificateVerify).
export const startMqttBroker = async (options: MqttBrokerOptions): Promise<RunningMqttBroker> => {
  const { registry, logger } = options;
  const sessions = new SessionRegistry();
  const metrics = createBrokerMetrics(options.metrics);
  const log = logger.child({ component: 'mqtt' });

  // Clients that sent an empty client id: only the broker-generated `aedes_<uuid>` ids they got
  // are exempt from the `<tenant>_` namespace; an id a client chose never is.
  const generatedClientIds = new WeakSet<Client>();
  const backplane = options.backplane;
  const isClusterAvailable = (): boolean => backplane?.isAvailable?.() !== false;
  const authorizeSubscribe = createAuthorizeSubscribe({ sessions, logger: log, metrics });
  const authorizeForward = createAuthorizeForward({ sessions, logger: log, metrics });
  const canceledHits = new CapHits(metrics, log);
  const canceledCommands = new CanceledCommands(options.commands?.settings.expiryMs ?? 0, {
    onEvicted: (evicted) => canceledHits.hit('canceledCommandIds', { evicted, maxIds: MAX_CANCELED_IDS },
      'canceled command ids forgotten (oldest first): this node holds at most maxIds; a queued copy of one could now be delivered'),
  });
  let commandDelivery: CommandDelivery | undefined;
  let onAdmitted = (_client: Client): void => undefined;
  // Registered on the cluster's emitter before aedes' own listeners (disconnect-reasons.ts).
  const disconnectReasons = trackDisconnectReasons(options.backplane?.mq);
  const broker = await Aedes.createBroker({
    ...(options.backplane ? { id: options.backplane.id, mq: options.backplane.mq, persistence: options.backplane.persistence } : {}),
    preConnect: (client: Client, packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void) => {
      if (packet.clientId === '') generatedClientIds.add(client);
      callback(null, true);
    },
    authenticate: createAuthenticate({
      registry, tokens: options.tokens, logger: log, metrics, hasGeneratedClientId: (client) => generatedClientIds.has(client), nodeId: options.nodeId,
      isClusterAvailable, onAdmitted: (client) => onAdmitted(client),
    }, sessions),
    // A canceled command is never delivered, not even a copy queued for a persistent session (canceled-commands.ts).
    authorizeForward: (client, packet) => {
      if (canceledCommands.isCanceledCommand(packet)) return null;
      const forwarded = authorizeForward(client, packet);
      return forwarded && commandDelivery ? commandDelivery.forwarded(client, forwarded) : forwarded;
    },
    authorizePublish: createAuthorizePublish({ sessions, logger: log, metrics }),
    // Without Redis a subscription can be neither stored nor heard: refused (0x80) at once rather
    // than answered whenever Redis is back.
    authorizeSubscribe: (client, subscription, callback) => {
      if (isClusterAvailable()) return authorizeSubscribe(client, subscription, callback);
      log.info({ clientId: client.id, topic: subscription.topic.slice(0, 256) }, 'mqtt subscription refused: Redis unreachable');
      callback(null, null);
    },
    connectTimeout: CONNECT_TIMEOUT_MS,
    // The backplane's route table counts a node dead after 3 of the heartbeats it was built for.
    ...((options.heartbeatMs ?? options.backplane?.heartbeatMs) === undefined ? {} : { heartbeatInterval: options.heartbeatMs ?? options.backplane?.heartbeatMs }),
    // Agent client ids are `<tenant>_<CN>`: longer than MQTT 3.1's 23 characters.
    maxClientsIdLength: 256,
  });
  guardStoredMessages(broker, { logger: log, metrics });
  // Outside the walls: a renewal request is consumed before it could be stored or forwarded.
  installCertificateRenewal(broker, { registry, sessions, logger: log });
  // Outside the walls too: an agent's access token request is consumed the same way.
  const tokenRequests = new Counter({
    name: 'trustgate_agent_token_requests_total',
    help: 'Agent access token requests over MQTT (o/agm_v3/t), by outcome: issued, or why none was (requestInvalid, rateLimited, internal)',
    labelNames: ['outcome'] as const,
    registers: [options.metrics],
  });
  for (const outcome of agentTokenOutcomes) tokenRequests.labels(outcome).inc(0);
  installAgentTokenRequests(broker, {
    issueAgentToken: options.issueAgentToken ?? (async () => { throw new Error('agent access tokens are not configured on this broker'); }),
    sessions, logger: log, onOutcome: (outcome) => tokenRequests.labels(outcome).inc(),
  });
  const lifecycle = pairClientEvents(broker);
  const reasons = disconnectReasons.attach(broker, (client) => {
    const principal = sessions.principalOf(client);
    return principal?.kind === 'agent' ? { tenant: principal.tenant, agentId: principal.agentId, sessionId: principal.sessionId } : undefined;
  });
  let isClosing = false;
  const deadlines = new SessionDeadlines({
    onExpired: (client, principal, expiry) => {
      metrics.sessionsClosedByExpiry.labels(expiry.code).inc();
      log.info({ clientId: client.id, tenant: principal.tenant, kind: principal.kind, reason: expiry.code, expiredAt: new Date(expiry.atMs).toISOString() },
        'closed a session: what admitted it has expired');
      markDisconnect(client, 'expired', expiry.code);
      client.close();
    },
  });
  const ledger = options.backplane?.quotaLedger ?? new InMemoryQuotaLedger();
  const quotas = installBrokerQuotas(broker, {
    settings: options.quotas, ledger, metrics, logger: log,
    tenantOf: (client) => sessions.principalOf(client)?.tenant,
    isAgent: (client) => sessions.principalOf(client)?.kind === 'agent',
    census: options.backplane?.agentCensus,
  });
  // Outermost authenticate layer: a limited or banned CONNECT costs nothing else (connect-guard.ts).
  const connectGuard = installConnectGuard(broker, {
    policy: options.connectLimits, bans: options.backplane?.banStore ?? new InMemoryConnectBanStore(), audit: options.audit,
    metrics, metricsRegistry: options.metrics, logger: log, tenantOf: (client) => sessions.principalOf(client)?.tenant,
  });
  await connectGuard.start();
  commandDelivery = options.commands ? installCommandDelivery(broker, {
    jobs: options.commands.jobs, sessions, canceled: canceledCommands, logger: log, settings: options.commands.settings,
  }) : undefined;
  if (commandDelivery) {
    // Outermost: before a persistent session resumes (aedes then replays its queue through
    // authorizeForward), this node learns the agent's canceled commands. Fails closed: without
    // them, a queued copy of a canceled command could go out, so the CONNECT waits for a retry.
    const authenticate = broker.authenticate as (client: Client, username: string | undefined, password: Buffer | undefined, done: (error: Error | null, success: boolean | null) => void) => void;
    broker.authenticate = ((client: Client, username: string | undefined, password: Buffer | undefined, done: (error: Error | null, success: boolean | null) => void) => {
      authenticate(client, username, password, (error, success) => {
        const principal = sessions.principalOf(client);
        if (error || !success || principal?.kind !== 'agent' || client.clean) return done(error, success);
        commandDelivery.beforeResume(principal).then(() => done(null, true), (cause: unknown) => {
          log.error({ err: cause, clientId: client.id }, 'mqtt connection refused: could not read the agent\'s canceled commands (CONNACK 3)');
          done(Object.assign(new Error('canceled commands unreadable'), { returnCode: 3 }), false);
        });
      });
    }) as typeof broker.authenticate;
  }
  // Accepted (log line, counter, session gauge) once the CONNACK 0 is written, never before.
  const counted = new WeakSet<Client>();
  const gone = new WeakSet<Client>();
  const connackBound = boundConnack(broker, {
    boundMs: CONNACK_BOUND_MS,
    onAccepted: (client) => {
      const principal = sessions.principalOf(client);
      if (gone.has(client) || principal === undefined) return;
      counted.add(client);
      metrics.connected.inc();
      metrics.accepted.labels(principal.kind).inc();
      const socket = (client as unknown as { conn: Partial<TLSSocket> }).conn;
      log.info({
        clientId: client.id, tenant: principal.tenant, kind: principal.kind, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort,
        // The agent's certificate as the API shows it (lowercase hex SHA-256 of the DER), or the application's token subject.
        // The X509Certificate the admission read (not getPeerCertificate: that turns every field and
        // extension into a JS object, 2 % of a reconnect's CPU, decision 0012), then let go of it.
        ...(principal.kind === 'agent' ? { certificateFingerprint: takePeerCertificate(client)?.fingerprint256.replaceAll(':', '').toLowerCase() } : {}),
        ...(principal.kind === 'application' && principal.subject !== undefined ? { subject: principal.subject } : {}),
      }, 'mqtt connection accepted');
    },
    onTimedOut: (client) => {
      metrics.refusals.labels('mqtt.clusterUnavailable').inc();
      const principal = sessions.principalOf(client);
      log.warn({ clientId: client.id, tenant: principal?.tenant, reason: 'mqtt.clusterUnavailable', boundMs: CONNACK_BOUND_MS },
        'mqtt connection refused: admitted, but not answered within the bound (Redis unreachable?); CONNACK 3 sent');
    },
  });
  onAdmitted = (client) => connackBound.admitted(client);
  const webhookEvents = options.webhookEvents;
  onClientReady(broker, (client: Client) => {
    const principal = sessions.principalOf(client);
    if (principal) deadlines.track(client, principal);
    if (principal?.kind === 'agent' && webhookEvents) {
      void webhookEvents.emit({ type: 'agent.connected', tenant: principal.tenant, time: new Date(), data: { clientId: principal.clientId, agentId: principal.agentId, caCertificateId: principal.caCertificateId } });
    }
  });
  // Not aedes' 'clientDisconnect': it never comes for a connection dropped while its CONNECT is
  // answered (client-lifecycle.ts).
  onClientGone(broker, (client: Client) => {
    gone.add(client);
    connackBound.forget(client);
    deadlines.untrack(client);
    if (counted.has(client)) metrics.connected.dec();
    const principal = sessions.detach(client);
    // Every session logged as accepted gets one line saying why it ended (disconnect-reasons.ts);
    // a refused CONNECT was logged as refused.
    if (counted.has(client)) {
      const cause = disconnectCauseOf(client, isClosing ? 'shutdown' : 'closedByBroker');
      log.info({ clientId: client.id, tenant: principal?.tenant, kind: principal?.kind, reason: cause.reason, detail: cause.detail }, 'mqtt connection closed');
    }
    if (principal?.kind !== 'agent') return;
    // Taken over by a session of the same agent: the agent stays online with it, whichever of the
    // two connections was written last (two nodes write them independently).
    const successor = successorOf(client);
    const takenOverBy = successor?.tenant === principal.tenant && successor.agentId === principal.agentId && successor.sessionId !== principal.sessionId
      ? successor.sessionId : undefined;
    if (takenOverBy === undefined && webhookEvents && counted.has(client)) {
      void webhookEvents.emit({
        type: 'agent.disconnected', tenant: principal.tenant, time: new Date(),
        data: { clientId: principal.clientId, agentId: principal.agentId, reason: disconnectCauseOf(client, isClosing ? 'shutdown' : 'closedByBroker').reason },
      });
    }
    registry.recordAgentDisconnection(principal.tenant, principal.agentId, principal.sessionId, takenOverBy)
      .catch((error: unknown) => log.error({ err: error, clientId: client.id }, 'could not record the agent as offline'));
  });
  // aedes reports persistence failures (e.g. Redis unreachable) on the broker; unheard, an
  // 'error' event would end the process.
  (broker as EventEmitter).on('error', (error: Error) => log.error({ err: error }, 'mqtt broker error'));
  broker.on('clientError', (client: Client, error: Error) => log.debug({ clientId: client.id, err: error.message }, 'mqtt client error'));
  broker.on('connectionError', (client: Client, error: Error) => log.debug({ err: error.message }, 'mqtt connection error before CONNECT'));

  // Every TCP connection, from accept on: a handshake must finish within HANDSHAKE_TIMEOUT_MS
  // (Node's handshakeTimeout is an idle timer that a byte every few seconds keeps alive, and it
  // only reports), and close() must also end connections still in their handshake. An idle agent
  // keeps only its set entry here: the deadline goes at the end of the handshake, and the close
  // listener is one shared function.
  const sockets = new Set<Socket>();
  const timedOut = new WeakSet<Socket>();
  const handshakeFailures = createTlsHandshakeFailures(options.metrics);
  const clients = (broker as unknown as { clients: Record<string, { conn?: { writableLength?: number } }> }).clients;
  registerTrafficMetrics(options.metrics, metrics, {
    sockets: () => sockets,
    pendingBytes: () => {
      let pending = 0;
      for (const id in clients) pending += clients[id]?.conn?.writableLength ?? 0;
      return pending;
    },
    ...(ledger.queuedMessages ? { queuedMessages: () => ledger.queuedMessages!() } : {}),
  });
  if (options.tenantMetrics) registerTenantMetrics(options.metrics, () => sessions.principals());
  const handshakes = new HandshakeDeadlines({
    timeoutMs: HANDSHAKE_TIMEOUT_MS,
    onTimeout: (socket) => {
      // Node's own handshakeTimeout may have ended it first (counted as its tlsClientError).
      if (socket.destroyed) return;
      timedOut.add(socket);
      handshakeFailures.timeout.inc();
      socket.destroy();
    },
  });
  /** The TCP socket under a TLS socket of this server (what 'connection' saw). */
  const tcpSocketOf = (socket: Socket): Socket => (socket as unknown as { _parent?: Socket })._parent ?? socket;
  function forgetSocket(this: Socket) {
    if (sockets.delete(this)) metrics.traffic.socketClosed(this);
    handshakes.end(this);
  }
  const server = createServer({
    cert: options.tls.certificateChainPem,
    key: options.tls.privateKeyPem,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    ...(options.tls.groups === undefined ? {} : { ecdhCurve: options.tls.groups }),
  }, (socket) => {
    handshakes.end(tcpSocketOf(socket));
    // Without no-delay, Nagle + delayed ACKs hold each CONNACK ~40 ms (measured against Mosquitto: 62
    // instead of ~440 connects/s).
    socket.setNoDelay(true);
    const client = broker.handle(socket);
    guardPackets(client);
    lifecycle.guard(client);
    reasons.guard(client);
    connackFirst(client);
    quotas.guard(client);
  });
  // Dropped before any TLS byte is read: a banned or too busy source address costs an accept and a close.
  const droppedEarly = new WeakSet<Socket>();
  server.on('connection', (socket: Socket) => {
    if (!connectGuard.admitSocket(socket)) {
      droppedEarly.add(socket);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    handshakes.start(socket);
    socket.on('close', forgetSocket);
  });
  server.on('tlsClientError', (error, socket) => {
    // A socket our own deadline destroyed was counted there (its error here is a reset); one the
    // connect limits dropped, as rate limited.
    const parent = tcpSocketOf(socket);
    if (droppedEarly.has(parent)) return void socket.destroy();
    const reason = timedOut.has(parent) ? undefined : tlsHandshakeFailureReason(error);
    if (reason) handshakeFailures[reason].inc();
    log.debug({ err: error.message, code: (error as NodeJS.ErrnoException).code, reason }, 'tls handshake failed');
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port, host: options.host, reusePort: options.reusePort === true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    bans: connectGuard.bans,
    commandDispatch: commandDelivery,
    closeSessionsFor(event) {
      let closed: string[] = [];
      switch (event.type) {
        case 'caCertificateDeleted':
          closed = sessions.closeWhere((p) => p.kind === 'agent' && p.tenant === event.tenant && p.caCertificateId === event.caCertificateId, event.type);
          break;
        case 'agentDisabled':
        case 'agentDeleted':
          closed = sessions.closeWhere((p) => p.kind === 'agent' && p.tenant === event.tenant && p.agentId === event.agentId, event.type);
          break;
        case 'agentCertificateRevoked':
          // By issuer + serial number: the same agent connected with another (e.g. reissued)
          // certificate stays, and a re-encoded copy of the revoked one does not.
          closed = sessions.closeWhere((p) => p.kind === 'agent' && p.tenant === event.tenant
            && p.caCertificateId === event.caCertificateId && p.certificateSerialNumber === event.serialNumber, event.type);
          break;
        default:
          return [];
      }
      if (closed.length > 0) {
        metrics.sessionsClosedByTrustChange.inc(closed.length);
        // The ids, bounded: a CA deleted under 10,000 agents must not make one huge line.
        log.info({
          event: event.type, tenant: event.tenant, closed: closed.length, clientIds: closed.slice(0, CLIENT_IDS_LOGGED),
          ...(closed.length > CLIENT_IDS_LOGGED ? { clientIdsNotListed: closed.length - CLIENT_IDS_LOGGED } : {}),
        }, 'closed sessions after a trust change');
      }
      return closed;
    },
    liveAgentSessions() {
      return sessions.principals().flatMap((p) => p.kind === 'agent' ? [p] : []);
    },
    async drain(durationMs) {
      // New connections are refused from here on; the listening socket closes, live ones stay.
      server.close();
      // One step per client (fewer, with more clients per step, past one per DRAIN_MIN_STEP_MS),
      // the steps evenly spaced over durationMs: the first at once, the last one step before its
      // end. Timed from the start, so slow steps do not stretch the drain.
      const total = sessions.size;
      const steps = Math.max(1, Math.min(total, Math.floor(durationMs / DRAIN_MIN_STEP_MS)));
      const stepMs = durationMs / steps;
      const startedAt = performance.now();
      log.info({ sessions: total, durationMs, steps }, 'draining: disconnecting clients evenly over the drain time so they move to other nodes');
      for (let step = 0; step < steps && sessions.size > 0; step += 1) {
        const wait = startedAt + step * stepMs - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        sessions.closeSome(Math.ceil(sessions.size / (steps - step)), 'drain');
      }
      log.info({ sessions: total, remaining: sessions.size, durationMs: Math.round(performance.now() - startedAt) }, 'drained: every client was disconnected');
    },
    async close() {
      isClosing = true;
      commandDelivery?.close();
      deadlines.close();
      quotas.close();
      connackBound.close();
      await connectGuard.close();
      await new Promise<void>((resolve) => {
        if (server.listening) server.close(() => resolve());
        else resolve();
        handshakes.close();
        for (const socket of sockets) socket.destroy();
      });
      // With a backplane, aedes waits for Redis to confirm each client's unsubscription before it
      // calls back: a Redis that is gone must not hold the shutdown. The backplane's own close()
      // then drops whatever still waits.
      await new Promise<void>((resolve) => {
        const bound = options.backplane ? setTimeout(resolve, BACKPLANE_CLOSE_BOUND_MS) : undefined;
        broker.close(() => {
          clearTimeout(bound);
          resolve();
        });
      });
    },
  };
};
