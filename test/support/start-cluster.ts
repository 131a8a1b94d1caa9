import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDevSigningKey, mintDevToken, type DevSigningKey } from '../../src/auth/index.ts';
import { deleteKeysUnder, redisAdmin, TEST_REDIS_URL, uniqueRedisPrefix } from './redis-helpers.ts';
import { spawnServer, type SpawnedServer } from './spawn-server.ts';
import type { TestServer } from './start-test-server.ts';
import { createTestDatabaseUrl, type TestDatabase } from './test-databases.ts';

// A trustgate cluster of real processes (`bin/trustgate serve`), as docs/deployment.md describes
// it: every node on one fresh PostgreSQL database and one Redis (under a prefix no other test
// uses), with the same data dir (broker root CA, dev token key, sealing key) and its own
// TRUSTGATE_NODE_ID. Each node is also a TestServer, so the API and MQTT helpers of
// api-helpers.ts and broker-helpers.ts work against any node unchanged.

export interface ApiInit {
  readonly method?: string;
  readonly body?: unknown;
  /** Bound on the whole request; default 10 s. */
  readonly timeoutMs?: number;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: any;
  readonly headers: Headers;
}

export interface ClusterNode extends TestServer {
  /** Its TRUSTGATE_NODE_ID. */
  readonly name: string;
  /** The child process: stop(signal), kill9(), output(), logLines(). */
  readonly server: SpawnedServer;
  /** The environment it was started with, beyond the cluster's own. */
  readonly env: Readonly<Record<string, string>>;
  api(tenant: string, path: string, init?: ApiInit): Promise<ApiAnswer>;
  /** GET /readyz: 200/503 with {status, checks}; throws if the node does not answer (port closed). */
  readyz(timeoutMs?: number): Promise<ApiAnswer>;
}

export interface StartNodeOptions {
  /** TRUSTGATE_NODE_ID; default `node-<n>`. */
  readonly name?: string;
  /** Over the cluster's settings, e.g. a TRUSTGATE_REDIS_URL or TRUSTGATE_DATABASE_URL through a proxy. */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for the node to listen; default 45 s (a loaded 2-core CI runner starting several). */
  readonly startTimeoutMs?: number;
}

export interface Cluster {
  /** The nodes started so far, in start order. */
  readonly nodes: readonly ClusterNode[];
  /** The node started with TRUSTGATE_NODE_ID `name`. */
  node(name: string): ClusterNode;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly redisPrefix: string;
  readonly dataDir: string;
  /** Starts one more node on the same database, Redis prefix and data dir. */
  startNode(options?: StartNodeOptions): Promise<ClusterNode>;
  /** fetch against `node`'s API base path with an admin dev token for `tenant`, bounded. */
  api(node: ClusterNode, tenant: string, path: string, init?: ApiInit): Promise<ApiAnswer>;
  /** SIGKILLs every node still running, deletes the Redis keys under the prefix, drops the database. Idempotent. */
  close(): Promise<void>;
}

export interface StartClusterOptions {
  /** Nodes to start now: how many (named node-1, node-2, …), or each one's options; default 2. */
  readonly nodes?: number | readonly StartNodeOptions[];
  /** Names the Redis prefix, the data dir and the nodes' logs. */
  readonly label?: string;
  /** For every node, under each node's own `env`; TRUSTGATE_DRAIN_MS defaults to 1000 here. */
  readonly env?: Readonly<Record<string, string>>;
}

const parse = (text: string): unknown => {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

export const startCluster = async ({ nodes: wanted = 2, label = 'cluster', env = {} }: StartClusterOptions = {}): Promise<Cluster> => {
  const database: TestDatabase = await createTestDatabaseUrl('postgres');
  const dataDir = await mkdtemp(join(tmpdir(), `trustgate-${label}-`));
  const redisPrefix = uniqueRedisPrefix(label);
  const nodes: ClusterNode[] = [];
  let signingKey: Promise<DevSigningKey> | undefined;
  const tokens = new Map<string, Promise<string>>();

  const token = async (tenant: string, options: { scopes?: string[]; ttlSeconds?: number } = {}): Promise<string> => {
    const scopes = options.scopes ?? ['mcmqtt.admin'];
    const ttlSeconds = options.ttlSeconds ?? 3600;
    const cacheKey = `${tenant}|${scopes.join(' ')}|${ttlSeconds}`;
    let minted = tokens.get(cacheKey);
    if (!minted) {
      signingKey ??= loadDevSigningKey(dataDir).then((key) => {
        if (!key) throw new Error(`no dev signing key in ${dataDir}: start a node first`);
        return key;
      });
      minted = signingKey.then((key) => mintDevToken(key, { tenant, scopes, ttlSeconds }));
      tokens.set(cacheKey, minted);
    }
    return minted;
  };

  const request = async (url: string, init: ApiInit & { authorization?: string } = {}): Promise<ApiAnswer> => {
    const response = await fetch(url, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        ...(init.authorization ? { authorization: init.authorization } : {}),
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
    });
    return { status: response.status, body: parse(await response.text()), headers: response.headers };
  };

  const startNode = async ({ name = `node-${nodes.length + 1}`, env: nodeEnv = {}, startTimeoutMs = 45_000 }: StartNodeOptions = {}): Promise<ClusterNode> => {
    const server = await spawnServer({
      dataDir,
      startTimeoutMs,
      env: {
        TRUSTGATE_DATABASE_URL: database.url,
        TRUSTGATE_REDIS_URL: TEST_REDIS_URL,
        TRUSTGATE_REDIS_PREFIX: redisPrefix,
        TRUSTGATE_NODE_ID: name,
        TRUSTGATE_DRAIN_MS: '1000',
        ...env,
        ...nodeEnv,
      },
    });
    try {
      const rootCa = await fetch(`${server.url}/broker-ca.pem`, { signal: AbortSignal.timeout(5_000) });
      if (rootCa.status !== 200) throw new Error(`GET /broker-ca.pem on ${name} answered ${rootCa.status}`);
      const brokerRootCaPem = await rootCa.text();
      const node: ClusterNode = {
        name,
        server,
        env: nodeEnv,
        url: server.url,
        apiUrl: server.apiUrl,
        dataDir,
        databaseUrl: nodeEnv.TRUSTGATE_DATABASE_URL ?? database.url,
        mqttPort: server.mqttPort,
        brokerRootCaPem,
        token,
        api: async (tenant, path, init = {}) => request(`${server.apiUrl}${path}`, { ...init, authorization: `Bearer ${await token(tenant)}` }),
        readyz: (timeoutMs = 3_000) => request(`${server.url}/readyz`, { timeoutMs }),
        close: () => server.kill9(),
      };
      nodes.push(node);
      return node;
    } catch (error) {
      await server.kill9();
      throw error;
    }
  };

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      await Promise.all(nodes.map((node) => node.server.kill9()));
      const admin = redisAdmin();
      try {
        await admin.connect();
        await deleteKeysUnder(admin, redisPrefix);
      } catch {
        // best effort: the keys are under a prefix no other test uses
      } finally {
        admin.disconnect();
      }
      await database.drop();
      await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return closed;
  };

  try {
    // The first node creates the shared keys in the data dir; the others then load them.
    const options = typeof wanted === 'number'
      ? Array.from({ length: wanted }, (_, i): StartNodeOptions => ({ name: `node-${i + 1}` }))
      : wanted;
    // One after the other: the first creates the shared keys in the data dir, and starting is
    // CPU-bound (on 2 cores, parallel starts take as long in total and each one longer).
    for (const nodeOptions of options) await startNode(nodeOptions);
  } catch (error) {
    await close();
    throw error;
  }

  return {
    nodes,
    databaseUrl: database.url,
    redisUrl: TEST_REDIS_URL,
    redisPrefix,
    dataDir,
    startNode,
    node: (name) => {
      const found = nodes.find((node) => node.name === name);
      if (!found) throw new Error(`no cluster node named ${name}; started: ${nodes.map((node) => node.name).join(', ')}`);
      return found;
    },
    api: (node, tenant, path, init) => node.api(tenant, path, init),
    close,
  };
};
