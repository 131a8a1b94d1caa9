import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Aedes, AuthenticateError, Client } from 'aedes';
import type { Logger } from 'pino';
import { Gauge, type Registry as MetricsRegistry } from 'prom-client';
import type { AuditTrail, MqttBans, MqttBanView } from '../registry/index.ts';
import { DomainError, type TenantId } from '../shared/index.ts';
import type { CodedRefusal } from './authenticate-client.ts';
import type { BrokerMetrics } from './broker-metrics.ts';
import type { ConnectBan, ConnectBanStore } from './connect-ban-store.ts';
import { connackCodeByError } from './connack-codes.ts';
import { ConnectLimiter, type ConnectLimitPolicy, type ConnectSubject, type LimitKind, type LimitVerdict } from './connect-limits.ts';
import { peerCertificateOf } from './peer-certificate.ts';
import { BanAudit } from './ban-audit.ts';
import { RefusalAudit } from './refusal-audit.ts';

// The connect limits and bans at the broker's two doors (docs/limits.md, decision 0025):
// - the TCP connection, before the TLS handshake (the expensive part): a banned or too busy
//   source address is dropped there, no byte of TLS exchanged (no CONNACK can be sent yet);
// - the CONNECT, before the certificate or token is looked at: a banned or too fast client id
//   (with its credential) gets CONNACK 3 at once.
// It also sees every CONNECT's outcome (it wraps the other `authenticate` layers): refusals
// count towards bans and go to the audit trail aggregated (refusal-audit.ts), admissions prove
// the tenant of a subject. With TRUSTGATE_RATE_LIMITS=off only the audit remains.

export interface ConnectGuardOptions {
  /** Undefined: no limits and no bans. */
  readonly policy: ConnectLimitPolicy | undefined;
  readonly bans: ConnectBanStore;
  readonly audit: AuditTrail | undefined;
  readonly metrics: BrokerMetrics;
  readonly metricsRegistry: MetricsRegistry;
  readonly logger: Logger;
  /** The tenant of an admitted client. */
  readonly tenantOf: (client: Client) => string | undefined;
}

export interface ConnectGuard {
  /** On each TCP connection, before TLS: false when it was dropped. */
  admitSocket(socket: Socket): boolean;
  /** The API's view (GET/DELETE /bans). */
  readonly bans: MqttBans;
  start(): Promise<void>;
  close(): Promise<void>;
}

type Authenticate = (client: Client, username: string | undefined, password: Buffer | undefined, done: (error: AuthenticateError | null, success: boolean | null) => void) => void;

const SWEEP_INTERVAL_MS = 10_000;
const LOG_INTERVAL_MS = 1_000;

const credentialOf = (client: Client, password: Buffer | undefined): string => {
  const certificate = peerCertificateOf(client);
  if (certificate) return `certificate:${certificate.fingerprint256.replaceAll(':', '').toLowerCase()}`;
  if (password && password.length > 0) return `token:${createHash('sha256').update(password).digest('hex').slice(0, 32)}`;
  return 'none';
};

const viewOf = (ban: ConnectBan): MqttBanView => ({
  id: ban.id,
  kind: ban.kind,
  clientId: ban.clientId,
  certificateFingerprint: ban.credential?.startsWith('certificate:') ? ban.credential.slice('certificate:'.length) : undefined,
  reason: ban.reason,
  refusals: ban.refusals,
  bannedAt: new Date(ban.bannedAt),
  expiresAt: new Date(ban.expiresAt),
});

export const installConnectGuard = (broker: Aedes, options: ConnectGuardOptions): ConnectGuard => {
  const { policy, bans: store, metrics, logger } = options;
  const audit = options.audit ? new RefusalAudit(options.audit) : undefined;
  const record = (entry: Parameters<AuditTrail['record']>[0]): void => void options.audit?.record(entry).catch(() => undefined);
  // Bans and their expiry: bounded per minute (ban-audit.ts); a lift by an operator is one entry always.
  const banAudit = options.audit ? new BanAudit(options.audit) : undefined;
  // Each limit kind logs at most one line a second (with how many it left out): a storm must not flood the log.
  const lastLoggedAt = new Map<LimitKind, number>();
  const unlogged = new Map<LimitKind, number>();
  const logLimited = (verdict: Extract<LimitVerdict, { isAllowed: false }>, fields: Record<string, unknown>): void => {
    metrics.rateLimited.labels(verdict.kind).inc();
    const now = Date.now();
    if (now - (lastLoggedAt.get(verdict.kind) ?? 0) < LOG_INTERVAL_MS) {
      unlogged.set(verdict.kind, (unlogged.get(verdict.kind) ?? 0) + 1);
      return;
    }
    lastLoggedAt.set(verdict.kind, now);
    const left = unlogged.get(verdict.kind) ?? 0;
    unlogged.delete(verdict.kind);
    logger.warn({ reason: verdict.code, kind: verdict.kind, ...fields, ...(verdict.ban ? { banId: verdict.ban.id, bannedUntil: new Date(verdict.ban.expiresAt).toISOString() } : {}),
      ...(left > 0 ? { alsoRefusedSinceLastLog: left } : {}) },
    verdict.kind.startsWith('banned') ? 'mqtt connection refused: banned (a limit, not a trust decision)' : 'mqtt connection refused: over the connect rate limit (a limit, not a trust decision)');
  };

  const limiter = policy === undefined ? undefined : new ConnectLimiter({
    policy,
    bans: store,
    onBanned: (ban) => {
      metrics.bans.labels(ban.kind).inc();
      logger.warn({ banId: ban.id, kind: ban.kind, clientId: ban.clientId, sourceAddress: ban.sourceAddress, tenant: ban.tenant, reason: ban.reason,
        refusals: ban.refusals, bannedUntil: new Date(ban.expiresAt).toISOString() }, 'mqtt client banned: refused too often within the window');
      banAudit?.add({
        time: new Date(ban.bannedAt), tenant: ban.tenant as TenantId | undefined, actor: { type: 'system', id: 'trustgate' }, action: 'mqtt.clientBanned',
        target: `ban:${ban.id}`, outcome: 'success', reason: ban.reason, sourceAddress: ban.sourceAddress, count: ban.refusals,
      });
    },
    onStoreError: (error) => logger.warn({ err: error }, 'could not share a ban with the other nodes: it holds on this node only'),
  });
  new Gauge({
    name: 'trustgate_mqtt_bans_active',
    help: 'Connect bans in force (on every node of a cluster), by kind: clientId (a client id with its certificate or token) or sourceAddress',
    labelNames: ['kind'] as const,
    registers: [options.metricsRegistry],
    collect() {
      const now = Date.now();
      const active = store.list(now);
      for (const kind of ['clientId', 'sourceAddress'] as const) this.labels(kind).set(active.filter((ban) => ban.kind === kind).length);
    },
  });

  const subjectOf = (client: Client, password: Buffer | undefined): ConnectSubject => ({
    clientId: client.id, credential: credentialOf(client, password), sourceAddress: (client.conn as Partial<Socket>).remoteAddress ?? '',
  });
  const authenticate = broker.authenticate as Authenticate;
  broker.authenticate = ((client, username, password, done) => {
    const subject = limiter ? subjectOf(client, password) : undefined;
    if (limiter && subject) {
      const verdict = limiter.checkClient(subject);
      if (!verdict.isAllowed) {
        logLimited(verdict, { clientId: client.id, remoteAddress: subject.sourceAddress });
        // A banned subject's tenant is the ban's: the limiter forgets idle subjects (and what they
        // proved) a window after the ban, long before the ban ends.
        audit?.add({ clientId: client.id, sourceAddress: subject.sourceAddress, reason: verdict.code, tenant: verdict.ban?.tenant ?? limiter.tenantOf(subject) });
        const refusal = new Error(verdict.code === 'mqtt.clientBanned' ? 'banned for a while: refused too often' : 'too many connection attempts: slow down') as AuthenticateError;
        refusal.returnCode = connackCodeByError[verdict.code];
        return done(refusal, false);
      }
    }
    authenticate(client, username, password, (error, success) => {
      const refusal = error as CodedRefusal | null;
      if (refusal?.reason !== undefined) {
        if (subject) limiter?.refused(subject, refusal.reason, refusal.issuerTenant);
        audit?.add({
          clientId: client.id, sourceAddress: (client.conn as Partial<Socket>).remoteAddress, reason: refusal.reason,
          tenant: refusal.issuerTenant ?? (subject ? limiter?.tenantOf(subject) : undefined),
        });
      } else if (!error && success && subject) {
        const tenant = options.tenantOf(client);
        if (tenant !== undefined) limiter?.accepted(subject, tenant);
      }
      done(error, success);
    });
  }) satisfies Authenticate;

  const sweep = (): void => {
    for (const ban of limiter?.sweep() ?? []) {
      logger.info({ banId: ban.id, kind: ban.kind, clientId: ban.clientId, sourceAddress: ban.sourceAddress, tenant: ban.tenant }, 'mqtt ban expired');
      banAudit?.add({
        time: new Date(), tenant: ban.tenant as TenantId | undefined, actor: { type: 'system', id: 'trustgate' }, action: 'mqtt.banLifted',
        target: `ban:${ban.id}`, outcome: 'success', reason: 'expired', sourceAddress: ban.sourceAddress,
      });
    }
  };
  let sweeper: NodeJS.Timeout | undefined;

  return {
    admitSocket(socket) {
      if (!limiter) return true;
      const address = socket.remoteAddress ?? '';
      const verdict = limiter.checkAddress(address);
      if (verdict.isAllowed) return true;
      logLimited(verdict, { remoteAddress: address });
      audit?.add({ clientId: undefined, sourceAddress: address, reason: verdict.code, tenant: undefined });
      return false;
    },
    bans: {
      async list(tenant) {
        return store.list(Date.now()).filter((ban) => ban.kind === 'clientId' && ban.tenant === tenant)
          .sort((a, b) => a.expiresAt - b.expiresAt).map(viewOf);
      },
      async lift(tenant, id, by, requestId) {
        const ban = store.find(id, Date.now());
        // Another tenant's ban, an address's, an expired or unknown one: the same 404.
        if (!ban || ban.kind !== 'clientId' || ban.tenant !== tenant) throw new DomainError('ban.notFound', 'No active ban with this id in this tenant.');
        await store.lift(id);
        limiter?.forgetBan(id);
        logger.info({ banId: id, clientId: ban.clientId, tenant, by: by.id }, 'mqtt ban lifted');
        record({
          time: new Date(), tenant, actor: by, action: 'mqtt.banLifted', target: `ban:${id}`, outcome: 'success', reason: 'lifted', sourceAddress: undefined, requestId,
        });
      },
    },
    async start() {
      await store.start({ onLifted: (ban) => limiter?.forgetBan(ban.id) });
      sweeper = setInterval(sweep, policy ? Math.min(SWEEP_INTERVAL_MS, policy.ban.windowMs) : SWEEP_INTERVAL_MS);
      sweeper.unref();
    },
    async close() {
      clearInterval(sweeper);
      await audit?.close();
      await banAudit?.close();
      await store.close();
    },
  };
};
