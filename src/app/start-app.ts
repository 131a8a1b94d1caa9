import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { createDevTokenVerifier, createExternalTokenVerifier, loadOrCreateDevSigningKey, type TokenVerifier } from '../auth/index.ts';
import { LocalEventBus } from '../cluster/index.ts';
import type { Config } from '../config/index.ts';
import { createHttpServer } from '../http/index.ts';
import { applyToTrustIndex, createRegistry, loadTrustIndex, TrustIndex } from '../registry/index.ts';
import { startMqttBroker } from '../mqtt/index.ts';
import { Registry as MetricsRegistry, collectDefaultMetrics } from 'prom-client';
import { loadBrokerTlsIdentity } from './broker-tls-identity.ts';
import { systemClock, type Clock } from '../shared/index.ts';
import {
  AesGcmPrivateKeySealer, KyselyAgentCertificateStore, KyselyAgentStore, KyselyCaCertificateStore, KyselyManagedCaStore, openDatabase, type Database,
} from '../storage/index.ts';
import { loadOrCreateManagedCaSealingKey } from './managed-ca-sealing-key.ts';

const SHUTDOWN_GRACE_MS = 3000;

export interface RunningApp {
  readonly httpUrl: string;
  readonly httpPort: number;
  readonly mqttPort: number;
  /** The generated broker root CA (PEM), undefined with the operator's own certificate. */
  readonly brokerRootCaPem: string | undefined;
  close(): Promise<void>;
}

export interface AppOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
}

export const databaseUrlOf = (config: Config): string =>
  config.storage.databaseUrl ?? `sqlite:${join(resolve(config.storage.dataDir), 'trustgate.db')}`;

// The composition root: the only place that knows every module. Starts in dependency order and
// closes in reverse; a failure half-way closes what was already started.
export const startApp = async (config: Config, { logger, clock = systemClock }: AppOptions): Promise<RunningApp> => {
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

    const db: Kysely<Database> = await openDatabase({ url: databaseUrlOf(config) });
    closers.push(() => db.destroy());

    let tokens: TokenVerifier;
    let devJwks;
    if (config.auth.jwksUrl) {
      tokens = createExternalTokenVerifier({ jwksUrl: config.auth.jwksUrl, issuer: config.auth.jwtIssuer!, audience: config.auth.jwtAudience! });
      logger.info({ jwksUrl: config.auth.jwksUrl }, 'accepting tokens from an external identity provider');
    } else {
      const key = await loadOrCreateDevSigningKey(dataDir);
      tokens = createDevTokenVerifier(key.publicJwk);
      devJwks = { keys: [key.publicJwk] };
      logger.info('accepting tokens from the local dev issuer (trustgate token --tenant <tenant>)');
    }

    const tlsIdentity = await loadBrokerTlsIdentity({
      dataDir, certFile: config.tls.certFile, keyFile: config.tls.keyFile, hostnames: config.tls.hostnames,
    });
    for (const note of tlsIdentity.notes) logger.info({ source: tlsIdentity.source }, note);

    const caCertificates = new KyselyCaCertificateStore(db);
    const agents = new KyselyAgentStore(db, {
      onDeferredWriteError: (error) => logger.error({ err: error }, 'could not write agent online/last-connected updates'),
    });
    // Runs after the broker has closed its sessions (closers run in reverse), before the database closes.
    closers.push(() => agents.close());
    const managedCas = new KyselyManagedCaStore(db, new AesGcmPrivateKeySealer(await loadOrCreateManagedCaSealingKey(dataDir)));
    const agentCertificates = new KyselyAgentCertificateStore(db);
    const trustSources = { caCertificates, managedCas, agentCertificates };
    // No session survives a restart; agents reconnect and are marked online again.
    await agents.markAllOffline();
    const trustIndex = new TrustIndex();
    await loadTrustIndex(trustIndex, trustSources, clock.now());
    logger.info({ caCertificates: trustIndex.size, revokedAgentCertificates: trustIndex.revokedCount }, 'trust index loaded');

    const events = new LocalEventBus((error, event) => logger.error({ err: error, event }, 'registry event listener failed'));
    const registry = createRegistry({
      caCertificates,
      agents,
      managedCas,
      agentCertificates,
      trustIndex,
      events,
      clock,
      settings: {
        maxCaCertificatesPerTenant: config.registry.maxCaCertificatesPerTenant,
        clockSkewMs: config.registry.clockSkewMs,
      },
    });
    // The index first, then the sessions: a session closed for a deleted CA or a revoked
    // certificate cannot come back.
    events.subscribe((event) => applyToTrustIndex(trustIndex, trustSources, event));

    const metrics = new MetricsRegistry();
    collectDefaultMetrics({ register: metrics });

    const broker = await startMqttBroker({
      registry, tokens, logger, metrics, host: config.mqtt.host, port: config.mqtt.port,
      tls: { certificateChainPem: tlsIdentity.certificateChainPem, privateKeyPem: tlsIdentity.privateKeyPem },
    });
    closers.push(() => broker.close());
    events.subscribe((event) => broker.onRegistryEvent(event));
    logger.info({ port: broker.port }, 'trustgate MQTT broker listening (mutual TLS)');

    const http: FastifyInstance = await createHttpServer({ registry, tokens, logger, devJwks, metrics, brokerRootCaPem: tlsIdentity.rootCaPem });
    closers.push(async () => {
      // In-flight requests get a grace period; a client stalled mid-request must not hold the
      // shutdown past what an orchestrator waits before SIGKILL.
      const force = setTimeout(() => http.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      try {
        await http.close();
      } finally {
        clearTimeout(force);
      }
    });
    await http.listen({ host: config.http.host, port: config.http.port });
    const address = http.server.address();
    const httpPort = typeof address === 'object' && address ? address.port : config.http.port;
    const shownHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host;
    const httpUrl = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${httpPort}`;
    logger.info({ url: httpUrl, port: httpPort, dataDir }, 'trustgate HTTP API listening');
    return { httpUrl, httpPort, mqttPort: broker.port, brokerRootCaPem: tlsIdentity.rootCaPem, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
};
