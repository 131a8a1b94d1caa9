import type { Aedes, AuthenticateError, Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { isDomainError } from '../shared/index.ts';
import type { BrokerMetrics } from './broker-metrics.ts';
import { AgentsPerTenant, type AgentCensus } from './agents-per-tenant.ts';
import { CapHits } from './cap-hits.ts';
import { markDisconnect } from './disconnect-reasons.ts';
import { onClientGone, onClientReady } from './client-lifecycle.ts';
import { connackCodeByError } from './connack-codes.ts';
import { applyFilterCaps } from './filter-caps.ts';
import type { QuotaLedger } from './quota-ledger.ts';
import { applyQueueQuotas, tenantOfTopic, type QueuePersistence } from './queue-quotas.ts';
import { SessionExpiry } from './session-expiry.ts';
import { createSlowConsumerGuard } from './slow-consumer-guard.ts';

// Bounded resources (docs/decisions/0015-broker-quotas.md): no client can grow the broker's memory without bound or
// delay other clients' deliveries. Every cap, its default and what a hit does:
// docs/decisions/0015-broker-quotas.md and docs/config.md. aedes 1.2 has hooks for none of this,
// so the caps sit where aedes looks things up at call time: the client's packet parser, the
// broker's authorize hooks, the persistence's queue calls and Client#waitForDrain.

export interface BrokerQuotaSettings {
  readonly maxOutgoingBytesPerClient: number;
  readonly maxOutgoingBytesPerTenant: number;
  readonly slowConsumerTimeoutMs: number;
  readonly maxFiltersPerSubscribe: number;
  readonly maxFiltersPerClient: number;
  readonly maxFiltersPerTenant: number;
  readonly maxQueuedPerClient: number;
  readonly maxQueuedPerTenant: number;
  readonly maxRetainedPerClient: number;
  readonly maxRetainedPerTenant: number;
  readonly maxPersistentSessionsPerTenant: number;
  readonly sessionExpirySeconds: number;
  /** PUBLISH packets one agent may send per second (a token bucket of `publishBurstPerAgent`). */
  readonly maxPublishesPerSecondPerAgent: number;
  readonly publishBurstPerAgent: number;
  readonly maxAgentsPerTenant: number;
}

export interface BrokerQuotaDependencies {
  readonly settings: BrokerQuotaSettings;
  readonly ledger: QuotaLedger;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  /** The tenant a connected client belongs to (its admitted principal). */
  readonly tenantOf: (client: Client) => string | undefined;
  /** True for a client admitted as an agent (by certificate). */
  readonly isAgent: (client: Client) => boolean;
  /** The other nodes' connected agents per tenant (a cluster). */
  readonly census?: AgentCensus | undefined;
}

export interface BrokerQuotas {
  /** For each new connection, right after `broker.handle(socket)`. */
  guard(client: Client): void;
  close(): void;
}

type Authenticate = (client: Client, username: string | undefined, password: Buffer | undefined, done: (error: AuthenticateError | null, success: boolean | null) => void) => void;
type AuthorizePublish = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => void;

interface ParsedPacket { cmd: string; qos?: number; topic?: string; subscriptions?: readonly unknown[] }
interface PacketParser {
  client: Client;
  /** The agent's PUBLISH token bucket, kept on its parser: no lookup per packet. */
  publishTokens?: number;
  publishTokensAt?: number;
  publishCapHit?: boolean;
  prependListener(event: 'packet', listener: (this: PacketParser, packet: ParsedPacket) => void): void }
interface SessionPersistence extends QueuePersistence {
  outgoingStream(client: unknown): AsyncIterable<unknown>;
  cleanIncoming?(client: unknown): Promise<void>;
}

// aedes handles a packet whose command it does not know by destroying the connection, before any
// handler runs: nothing of a refused packet is stored or forwarded.
const REFUSED_COMMAND = 'refused-by-broker-cap';

/** A ledger call refused at once because the cluster's Redis is unreachable (decision 0021). */
const isRedisUnreachable = (error: unknown): boolean => isDomainError(error) && error.code === 'mqtt.clusterUnavailable';

export const installBrokerQuotas = (broker: Aedes, { settings, ledger, metrics, logger, tenantOf, isAgent, census }: BrokerQuotaDependencies): BrokerQuotas => {
  const hits = new CapHits(metrics, logger);
  const slowConsumers = createSlowConsumerGuard(broker, {
    maxOutgoingBytes: settings.maxOutgoingBytesPerClient, maxOutgoingBytesPerTenant: settings.maxOutgoingBytesPerTenant, timeoutMs: settings.slowConsumerTimeoutMs,
  }, hits, tenantOf);
  const clients = (broker as unknown as { clients: Record<string, Client & { closed: boolean }> }).clients;
  const persistence = (broker as unknown as { persistence: SessionPersistence }).persistence;

  // QoS 0 and 1 only (README, "Connect an agent"): a QoS 2 PUBLISH closes the connection (aedes would store it until a PUBREL
  // that an abuser never sends). And at most maxFiltersPerSubscribe filters in one SUBSCRIBE.
  // PUBLISHes per agent per second (issue 16, part 4): a token bucket on the agent's parser,
  // refilled by the time between its packets. Past it, the connection is closed with a logged
  // reason; a tenant application (one connection serving many agents) is not capped here.
  const publishRate = settings.maxPublishesPerSecondPerAgent / 1000;
  const publishBurst = settings.publishBurstPerAgent;
  const exceedsPublishRate = (parser: PacketParser): boolean => {
    const now = performance.now();
    const tokens = Math.min(publishBurst, (parser.publishTokens ?? publishBurst) + (now - (parser.publishTokensAt ?? now)) * publishRate);
    parser.publishTokensAt = now;
    if (tokens < 1) {
      parser.publishTokens = tokens;
      return isAgent(parser.client);
    }
    parser.publishTokens = tokens - 1;
    return false;
  };

  function refuseAtParse(this: PacketParser, packet: ParsedPacket): void {
    if (packet.cmd === 'publish' && exceedsPublishRate(this)) {
      // Packets already read behind the first one over the cap are refused too, counted once.
      packet.cmd = REFUSED_COMMAND;
      if (this.publishCapHit) return;
      this.publishCapHit = true;
      markDisconnect(this.client, 'publishRateExceeded', `more than ${settings.maxPublishesPerSecondPerAgent} PUBLISHes per second (burst ${publishBurst})`);
      hits.hit('publishesPerSecond', { clientId: this.client.id, limit: settings.maxPublishesPerSecondPerAgent, burst: publishBurst },
        'agent disconnected: it published faster than its cap (TRUSTGATE_MQTT_MAX_PUBLISHES_PER_SECOND_PER_AGENT)', true);
    } else if (packet.cmd === 'publish' && packet.qos === 2) {
      hits.hit('qos2Publish', { clientId: this.client.id, topic: packet.topic?.slice(0, 256) }, 'QoS 2 PUBLISH refused (QoS 0 and 1 only): connection closed', true);
      packet.cmd = REFUSED_COMMAND;
    } else if (packet.cmd === 'subscribe' && (packet.subscriptions?.length ?? 0) > settings.maxFiltersPerSubscribe) {
      hits.hit('filtersPerSubscribe', { clientId: this.client.id, filters: packet.subscriptions?.length, limit: settings.maxFiltersPerSubscribe },
        'SUBSCRIBE with too many filters refused: connection closed', true);
      packet.cmd = REFUSED_COMMAND;
    }
  }

  applyFilterCaps(broker, { perClient: settings.maxFiltersPerClient, perTenant: settings.maxFiltersPerTenant }, hits, tenantOf);

  // Retained messages per client id and per tenant: past a cap the message is still delivered,
  // only not retained. Non-retained PUBLISHes (the hot path) pass straight through.
  const retainedCaps = { perTenant: settings.maxRetainedPerTenant, perClient: settings.maxRetainedPerClient };
  const applyRetainedCaps = async (client: Client | null, packet: PublishPacket): Promise<void> => {
    const tenant = tenantOfTopic(packet.topic);
    if (tenant === '') return;
    if ((packet.payload?.length ?? 0) === 0) return ledger.releaseRetained(tenant, packet.topic);
    const owner = client?.id ?? (packet as { clientId?: string }).clientId ?? '';
    const verdict = await ledger.claimRetained(tenant, owner, packet.topic, retainedCaps);
    if (verdict === 'ok') return;
    packet.retain = false;
    hits.hit(verdict, { clientId: owner, tenant, limit: verdict === 'retainedPerTenant' ? retainedCaps.perTenant : retainedCaps.perClient },
      'retained PUBLISH delivered but not retained: the retained-message cap is reached');
  };
  const authorizePublish = broker.authorizePublish as AuthorizePublish;
  broker.authorizePublish = ((client, packet, callback) => {
    if (!packet.retain) return authorizePublish(client, packet, callback);
    authorizePublish(client, packet, (error) => {
      if (error) return callback(error);
      applyRetainedCaps(client, packet).then(() => callback(null), (failure: unknown) => {
        // Fail closed: a message whose count could not be taken is not retained.
        packet.retain = false;
        // Redis unreachable: the message is dropped whole, counted and logged once per outage by the backplane.
        if (isRedisUnreachable(failure)) return callback(null);
        logger.warn({ err: failure, clientId: client?.id }, 'could not count a retained message: delivered but not retained');
        callback(null);
      });
    });
  }) satisfies AuthorizePublish;

  // Persistent sessions per tenant: the filter and queue caps bound what one session holds, this
  // bounds how many sessions a tenant's client ids (`<tenant>_<anything>`) can park until their
  // expiry. Checked once the client is admitted (its tenant known), before aedes restores or
  // creates the session; a clean CONNECT passes straight through (no ledger call), and its
  // cleanSubscriptions frees the place (queue-quotas.ts), as the expiry does.
  const authenticate = broker.authenticate as Authenticate;
  const refuseSession = (code: 'mqtt.persistentSessionLimitReached' | 'mqtt.tenantConnectionLimitReached' | 'storage.unavailable', message: string): AuthenticateError => {
    const refusal = new Error(message) as AuthenticateError & { reason?: string };
    refusal.returnCode = connackCodeByError[code];
    refusal.reason = code;
    return refusal;
  };
  // Connected agents per tenant (agents-per-tenant.ts): a place taken once the agent is admitted,
  // before aedes goes on; freed when the connection goes.
  const agentsPerTenant = new AgentsPerTenant(settings.maxAgentsPerTenant, census);
  const authenticateWithSessions = ((client, username, password, done) => {
    if (client.clean !== false) return authenticate(client, username, password, done);
    authenticate(client, username, password, (error, success) => {
      const tenant = error || !success ? undefined : tenantOf(client);
      if (tenant === undefined) return done(error, success);
      ledger.claimSession(tenant, client.id, settings.maxPersistentSessionsPerTenant).then((verdict) => {
        if (verdict === 'ok') return done(null, true);
        hits.hit('persistentSessionsPerTenant', { clientId: client.id, tenant, limit: settings.maxPersistentSessionsPerTenant },
          'CONNECT refused: the tenant holds the maximum number of persistent sessions (mqtt.persistentSessionLimitReached)', true);
        metrics.refusals.labels('mqtt.persistentSessionLimitReached').inc();
        done(refuseSession('mqtt.persistentSessionLimitReached', 'The tenant holds the maximum number of persistent sessions.'), false);
      }, (failure: unknown) => {
        // Fail closed: a session whose place could not be counted is not created.
        logger.warn({ err: failure, clientId: client.id, tenant }, 'could not count a persistent session: CONNECT refused as server unavailable');
        metrics.refusals.labels('storage.unavailable').inc();
        done(refuseSession('storage.unavailable', 'The persistent-session count could not be read; try again.'), false);
      });
    });
  }) satisfies Authenticate;
  broker.authenticate = ((client, username, password, done) => {
    authenticateWithSessions(client, username, password, (error, success) => {
      const tenant = error || !success || !isAgent(client) ? undefined : tenantOf(client);
      // A connection that closed meanwhile (during the session count's round trip) has had its
      // one CLIENT_GONE already: a place taken now would never be freed. aedes drops the client.
      if (tenant === undefined || (client as { closed?: boolean }).closed === true || agentsPerTenant.claim(tenant, client)) return done(error, success);
      hits.hit('agentsPerTenant', { clientId: client.id, tenant, limit: settings.maxAgentsPerTenant },
        'CONNECT refused: the tenant has the maximum number of connected agents (mqtt.tenantConnectionLimitReached)', true);
      metrics.refusals.labels('mqtt.tenantConnectionLimitReached').inc();
      done(refuseSession('mqtt.tenantConnectionLimitReached', 'The tenant has the maximum number of connected agents.'), false);
    });
  }) satisfies Authenticate;

  applyQueueQuotas(persistence, {
    caps: { perClient: settings.maxQueuedPerClient, perTenant: settings.maxQueuedPerTenant },
    ledger,
    hits,
    connectedClient: (clientId) => clients[clientId],
    onLedgerError: (error) => {
      if (!isRedisUnreachable(error)) logger.warn({ err: error }, 'could not update the queued-message counts (a message may not have been queued for the sessions away)');
    },
    onNotQueued: (count) => { metrics.traffic.queueUnavailable += count; },
  });

  const expiry = new SessionExpiry({
    expiryMs: settings.sessionExpirySeconds * 1000,
    clocks: ledger,
    isConnectedHere: (clientId) => clients[clientId] !== undefined && !clients[clientId].closed,
    async expire(clientId) {
      const session = { id: clientId, clean: false };
      await persistence.cleanSubscriptions(session);
      // aedes-persistence keeps the queue apart from the subscriptions: empty it through the
      // wrapped call (counts follow). aedes-persistence-redis dropped it with the subscriptions.
      for await (const packet of persistence.outgoingStream(session)) await persistence.outgoingClearMessageId(session, packet as object);
      await persistence.cleanIncoming?.(session);
    },
    onExpired(clientId) {
      metrics.sessionsExpired.inc();
      logger.info({ clientId, expirySeconds: settings.sessionExpirySeconds }, 'persistent session expired: its client stayed away longer than the session expiry');
    },
    onError: (error, clientId) => logger.warn({ clientId, err: error }, 'could not keep or expire a persistent session\'s clock; trying again later'),
  });
  // A client taken over by a connection on another node leaves here after that node stopped the
  // clock (aedes announces the new connection on `$SYS/<broker>/new/clients`, then closes the old
  // one): its leaving must not start the clock again.
  // By connection, not client id: a mark left on a connection that had already gone (it dropped
  // as it was taken over) must not make a later connection's departure with that id count as a move.
  const movedElsewhere = new WeakSet<Client>();
  (broker as unknown as { mq: { on(topic: string, listener: (packet: { topic: string; payload: Buffer }, done: () => void) => void): void } }).mq.on('$SYS/+/new/clients', (packet, done) => {
    const clientId = packet.payload.toString('utf8');
    const here = clients[clientId];
    if (packet.topic.split('/')[1] !== broker.id && here !== undefined) movedElsewhere.add(here);
    done();
  });
  // client-lifecycle.ts: aedes' own events miss connections dropped while their CONNECT is answered.
  onClientGone(broker, (client: Client) => {
    agentsPerTenant.release(client);
    if (movedElsewhere.delete(client)) return;
    if (!client.clean && client.id) expiry.clientLeft(client.id);
  });
  onClientReady(broker, (client: Client) => expiry.clientBack(client.id));
  expiry.start();
  void census?.start(() => agentsPerTenant.counts()).catch((error: unknown) => logger.warn({ err: error }, 'could not start the cluster\'s count of connected agents'));

  return {
    guard(client) {
      const parser = (client as unknown as { _parser: PacketParser })._parser;
      // The bucket's fields from the start, full (as a first PUBLISH finds it): every parser has
      // one object shape, rather than changing it at its first PUBLISH (issue 18).
      parser.publishTokens = publishBurst;
      parser.publishTokensAt = performance.now();
      parser.publishCapHit = false;
      parser.prependListener('packet', refuseAtParse);
      slowConsumers.guard(client);
    },
    close() {
      expiry.stop();
      void census?.close().catch(() => undefined);
    },
  };
};
