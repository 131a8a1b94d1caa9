import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { databaseUrlOf, startApp, type AppOptions, type RunningApp } from '../../src/app/index.ts';
import { loadDevSigningKey, mintDevToken } from '../../src/auth/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createTestDatabaseUrl, type TestDialect } from './test-databases.ts';

export interface TestServer {
  readonly url: string;
  readonly apiUrl: string;
  readonly dataDir: string;
  /** The database the server uses: its SQLite file (`sqlite:<path>`) or `postgres://…`. */
  readonly databaseUrl: string;
  readonly mqttPort: number;
  /** The generated broker root CA: what agents pass as --cafile / `ca`. */
  readonly brokerRootCaPem: string;
  /** A dev-issuer token for `tenant` (scope mcmqtt.admin unless given). */
  token(tenant: string, options?: { scopes?: string[]; ttlSeconds?: number }): Promise<string>;
  /** fetch against the API base path with a Bearer token for `tenant`. */
  api(tenant: string, path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /**
   * postgres: the server gets a fresh PostgreSQL database, dropped on close (unless env names a
   * TRUSTGATE_DATABASE_URL, e.g. one database shared by two servers). sqlite (the default): the
   * data dir's SQLite file.
   */
  readonly dialect?: TestDialect;
  /** The server's logger (e.g. captureLogs().logger); default silent, or TEST_LOG_LEVEL. */
  readonly logger?: Logger;
  /** SQLite: a slow fsync, or a handle on the database worker thread (AppOptions). */
  readonly sqliteWorkerForTests?: AppOptions['sqliteWorkerForTests'];
}

// An in-process server on 127.0.0.1, port 0, with its own temporary data dir.
export const startTestServer = async (env: Record<string, string> = {}, { dialect = 'sqlite', logger, sqliteWorkerForTests }: TestServerOptions = {}): Promise<TestServer> => {
  const dataDir = env.TRUSTGATE_DATA_DIR ?? await mkdtemp(join(tmpdir(), 'trustgate-test-'));
  const database = dialect === 'postgres' && !env.TRUSTGATE_DATABASE_URL ? await createTestDatabaseUrl('postgres') : undefined;
  const config = loadConfig({
    TRUSTGATE_HTTP_HOST: '127.0.0.1', TRUSTGATE_HTTP_PORT: '0', TRUSTGATE_MQTT_HOST: '127.0.0.1', TRUSTGATE_MQTT_PORT: '0',
    // Tests that are not about limits run without them (a test about them passes its own).
    TRUSTGATE_RATE_LIMITS: 'off',
    TRUSTGATE_DATA_DIR: dataDir, ...(database ? { TRUSTGATE_DATABASE_URL: database.url } : {}), ...env,
  });
  let app: RunningApp;
  try {
    app = await startApp(config, { logger: logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), sqliteWorkerForTests });
  } catch (error) {
    await database?.drop();
    if (!env.TRUSTGATE_DATA_DIR) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const url = `http://127.0.0.1:${app.httpPort}`;
  const apiUrl = `${url}/api/mindconnectmqtt/v3`;
  const token = async (tenant: string, options: { scopes?: string[]; ttlSeconds?: number } = {}) => {
    const key = await loadDevSigningKey(dataDir);
    if (!key) throw new Error('no dev signing key in the data dir');
    return mintDevToken(key, { tenant, scopes: options.scopes ?? ['mcmqtt.admin'], ttlSeconds: options.ttlSeconds ?? 3600 });
  };
  return {
    url,
    apiUrl,
    dataDir,
    databaseUrl: databaseUrlOf(config),
    mqttPort: app.mqttPort,
    brokerRootCaPem: app.brokerRootCaPem ?? '',
    token,
    async api(tenant, path, init = {}) {
      const response = await fetch(`${apiUrl}${path}`, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: {
          authorization: `Bearer ${await token(tenant)}`,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : JSON.parse(text), headers: response.headers };
    },
    async close() {
      try {
        await app.close();
      } finally {
        await database?.drop();
        if (!env.TRUSTGATE_DATA_DIR) await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
};
