import { randomBytes } from 'node:crypto';
import { after, afterEach, before } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import type { Redis } from 'ioredis';
import type { Principal, TokenVerifier } from '../../src/auth/index.ts';
import { createRedisBrokerBackplane, type RedisBrokerBackplane } from '../../src/cluster/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startMqttBroker, type RunningMqttBroker } from '../../src/mqtt/index.ts';
import { DomainError, type TenantId } from '../../src/shared/index.ts';
import { connectClient, Resources } from './broker-helpers.ts';
import { registryFixture } from './registry-fixture.ts';
import { deleteKeysUnder, redisAdmin, TEST_REDIS_URL, uniqueRedisPrefix } from './redis-helpers.ts';
import { createCa, issueCertificate, type TestCertificate } from './test-pki.ts';
import { unavailable } from './test-services.ts';

// Brokers in the test process, as trustgate nodes of one cluster would run them: each with its own
// Redis backplane on the shared Redis, under one prefix no other test uses. Clients are
// applications of one tenant (a fake TokenVerifier, the token as password) over mqtts, against a
// test broker CA and a localhost server certificate. Used by the tests under test/cluster.
//
// Calling inProcessBrokers at a test file's top level registers its hooks there: `before` opens
// the Redis admin connection and makes the certificates; the resources and the prefix's keys go in
// `afterEach` (cleanUp 'each', with `reset()` at the start of each test) or in `after` (cleanUp
// 'once', one set of resources and one prefix for the whole file); `after` closes the admin.

export interface InProcessBrokersOptions {
  /** The one tenant; its application token is `token-of-the-<tenant>-tenant`. */
  readonly tenant: TenantId;
  /** The broker CA is `CN=<caName> test broker CA`. */
  readonly caName: string;
  /** The label of the Redis key prefix (uniqueRedisPrefix). */
  readonly prefixLabel: string;
  /** The environment loadConfig reads the broker settings (caps) from, for every node; default {}. */
  readonly config?: Readonly<Record<string, string>>;
  /** When resources are closed and the prefix's keys deleted: after each test, or once after all. */
  readonly cleanUp: 'each' | 'once';
}

export interface StartNodeOptions {
  /** The backplane's Redis URL; default TEST_REDIS_URL. */
  readonly url?: string;
  /** Replaces the default config for this node. */
  readonly config?: Readonly<Record<string, string>>;
  /** The node's logger (e.g. captureLogs().logger); default silent. */
  readonly logger?: pino.Logger;
  /** aedes' heartbeat and the route table's (decision 0028); default aedes' 60 s. */
  readonly heartbeatMs?: number;
  /** How long a new route waits for the other nodes' confirmations; default the backplane's. */
  readonly routeAckTimeoutMs?: number;
}

export interface InProcessNode {
  readonly broker: RunningMqttBroker;
  readonly backplane: RedisBrokerBackplane;
  readonly metrics: MetricsRegistry;
}

export interface InProcessBrokers {
  readonly tenant: TenantId;
  readonly token: string;
  readonly logger: pino.Logger;
  readonly admin: Redis;
  readonly brokerCa: TestCertificate;
  readonly resources: Resources;
  readonly prefix: string;
  /** Tokens the brokers have verified so far: one more once an application's CONNECT reached its broker. */
  readonly verifications: number;
  /** New resources and a new prefix (cleanUp 'each': at the start of a test). */
  reset(): void;
  /** A backplane and a broker on it, both closed with the resources (the broker first). */
  startNode(options?: StartNodeOptions): Promise<InProcessNode>;
  /** reset(), then two nodes started with the same options. */
  twoNodes(options?: StartNodeOptions): Promise<[InProcessNode, InProcessNode]>;
  /** A client id of the tenant: `<tenant>_<label>-<random>`. */
  unique(label: string): string;
  url(node: InProcessNode): string;
  /** The tenant application's client options (CA, no reconnect, 5 s connect bound, MQTT 3.1.1, token). */
  applicationOptions(): IClientOptions & { protocolVersion: 4 };
  /** An application client connected to `node` (CONNACK 0), closed with the resources. */
  connectApplication(node: InProcessNode, clientId: string, options?: IClientOptions, beforeConnect?: (client: MqttClient) => void): Promise<MqttClient>;
}

export const inProcessBrokers = (options: InProcessBrokersOptions): InProcessBrokers => {
  const { tenant, caName, prefixLabel, config: defaultConfig = {}, cleanUp } = options;
  const token = `token-of-the-${tenant}-tenant`;
  let verifications = 0;
  const tokens: TokenVerifier = {
    verify: async (candidate: string): Promise<Principal> => {
      verifications += 1;
      if (candidate !== token) throw new DomainError('auth.tokenInvalid', 'not the test token');
      return { tenant, scopes: ['mcmqtt.admin'], subject: 'test-application' };
    },
  };
  const logger = pino({ level: 'silent' });

  let admin: Redis;
  let brokerCa: TestCertificate;
  let serverCertificate: TestCertificate;
  let resources = new Resources();
  let prefix = uniqueRedisPrefix(prefixLabel);

  // Without Redis the suites using these brokers are skipped (test-services.ts): so are these hooks.
  const redisMissing = unavailable('redis');
  before(async () => {
    if (redisMissing) return;
    admin = redisAdmin();
    await admin.connect();
    brokerCa = await createCa({ subject: `CN=${caName} test broker CA` });
    serverCertificate = await issueCertificate(brokerCa, { subject: 'CN=localhost', extendedKeyUsage: 'serverAuth' });
  });

  if (cleanUp === 'each') {
    afterEach(async () => {
      if (redisMissing) return;
      await resources.closeAll();
      await deleteKeysUnder(admin, prefix);
    });
    after(async () => {
      if (redisMissing) return;
      await admin.quit();
    });
  } else {
    after(async () => {
      if (redisMissing) return;
      await resources.closeAll();
      await deleteKeysUnder(admin, prefix);
      await admin.quit();
    });
  }

  const startNode = async ({ url: redisUrl = TEST_REDIS_URL, config = defaultConfig, logger: nodeLogger = logger, heartbeatMs, routeAckTimeoutMs }: StartNodeOptions = {}): Promise<InProcessNode> => {
    const backplane = createRedisBrokerBackplane({
      url: redisUrl, logger: nodeLogger, prefix,
      ...(heartbeatMs === undefined ? {} : { heartbeatMs }), ...(routeAckTimeoutMs === undefined ? {} : { routeAckTimeoutMs }),
    });
    resources.add(() => backplane.close());
    const metrics = new MetricsRegistry();
    const broker = await startMqttBroker({
      registry: registryFixture().registry, tokens, logger: nodeLogger, metrics, host: '127.0.0.1', port: 0, backplane, nodeId: 'test',
      quotas: loadConfig(config).mqtt,
      // Off unless the node's config names a policy, as for every test server.
      connectLimits: loadConfig({ TRUSTGATE_RATE_LIMITS: 'off', ...config }).limits.rateLimits.mqtt,
      tls: { certificateChainPem: serverCertificate.certificatePem, privateKeyPem: serverCertificate.privateKeyPem },
    });
    resources.add(() => broker.close()); // closed before its backplane (resources close in reverse)
    return { broker, backplane, metrics };
  };
  const reset = (): void => {
    resources = new Resources();
    prefix = uniqueRedisPrefix(prefixLabel);
  };
  const url = (node: InProcessNode): string => `mqtts://localhost:${node.broker.port}`;
  const applicationOptions = () => ({
    ca: brokerCa.certificatePem, reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4 as const, username: tenant, password: token,
  });

  return {
    tenant,
    token,
    logger,
    get admin() { return admin; },
    get brokerCa() { return brokerCa; },
    get resources() { return resources; },
    get prefix() { return prefix; },
    get verifications() { return verifications; },
    reset,
    startNode,
    twoNodes: async (nodeOptions) => {
      reset();
      const node1 = await startNode(nodeOptions);
      const node2 = await startNode(nodeOptions);
      return [node1, node2];
    },
    unique: (label: string) => `${tenant}_${label}-${randomBytes(4).toString('hex')}`,
    url,
    applicationOptions,
    connectApplication: async (node, clientId, clientOptions = {}, beforeConnect) =>
      resources.client(await connectClient(url(node), { ...applicationOptions(), clientId, ...clientOptions }, `${clientId} connecting`, beforeConnect)),
  };
};
