import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { TestServer } from './start-test-server.ts';
import { createCa, issueCertificate, type IssueOptions, type TestCertificate } from './test-pki.ts';
import { proofFor, registrationCodeOf, uploadCaOk, verify } from './api-helpers.ts';
import { withTimeout } from './with-timeout.ts';

// Black-box helpers for the broker tests under test/broker: real TLS + MQTT against a real
// in-process server. Every wait is bounded, so a broker that never answers fails the test instead
// of hanging it.

export const CONNECT_TIMEOUT_MS = 4000;

export { withTimeout };

/** Every client a test opened, so `after` can close whatever is left. */
export class ClientPool {
  readonly #clients = new Set<MqttClient>();

  add(client: MqttClient): MqttClient {
    this.#clients.add(client);
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#clients].map((client) => withTimeout(client.endAsync(true), 2000, 'client end').catch(() => undefined)));
    this.#clients.clear();
  }
}

export interface AgentIdentity {
  /** PEM sent as the TLS client certificate (may hold a chain: leaf first). */
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

const baseOptions = (server: TestServer, clientId: string): IClientOptions => ({
  clientId,
  ca: server.brokerRootCaPem,
  reconnectPeriod: 0,
  connectTimeout: CONNECT_TIMEOUT_MS,
  protocolVersion: 4,
  clean: true,
});

const optionsOf = (server: TestServer, clientId: string, credentials: { agent?: AgentIdentity; username?: string; password?: string }): IClientOptions => ({
  ...baseOptions(server, clientId),
  ...(credentials.agent ? { cert: credentials.agent.certificatePem, key: credentials.agent.privateKeyPem } : {}),
  ...(credentials.username !== undefined ? { username: credentials.username } : {}),
  ...(credentials.password !== undefined ? { password: credentials.password } : {}),
});

/** Connects and expects CONNACK 0; the client is added to `pool`. */
export const connectOk = async (
  server: TestServer, pool: ClientPool, clientId: string, credentials: { agent?: AgentIdentity; username?: string; password?: string },
): Promise<MqttClient> => {
  const client = mqtt.connect(`mqtts://localhost:${server.mqttPort}`, optionsOf(server, clientId, credentials));
  pool.add(client);
  await withTimeout(new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error(`connection of ${clientId} closed before CONNACK`)));
  }), CONNECT_TIMEOUT_MS + 1000, `CONNACK for ${clientId}`);
  // Keep later 'error' events (e.g. ECONNRESET on takeover) from crashing the test process.
  client.on('error', () => undefined);
  return client;
};

/** Connects and expects a refusal; returns the CONNACK return code (undefined if none came). */
export const connectRefused = async (
  server: TestServer, clientId: string, credentials: { agent?: AgentIdentity; username?: string; password?: string },
): Promise<number | undefined> => {
  const client = mqtt.connect(`mqtts://localhost:${server.mqttPort}`, optionsOf(server, clientId, credentials));
  client.on('error', () => undefined);
  try {
    return await withTimeout(new Promise<number | undefined>((resolve, reject) => {
      client.once('connect', () => reject(new Error(`expected ${clientId} to be refused, but it was accepted`)));
      client.once('error', (error) => resolve((error as Error & { code?: unknown }).code as number | undefined));
      client.once('close', () => resolve(undefined));
    }), CONNECT_TIMEOUT_MS + 1000, `refusal of ${clientId}`);
  } finally {
    await withTimeout(client.endAsync(true), 2000, 'client end').catch(() => undefined);
  }
};

/** Resolves with the ms between `since` and the client's 'close' event, or rejects after `timeoutMs`. */
export const closedWithin = (client: MqttClient, timeoutMs: number, what: string): { elapsedSince(start: number): Promise<number> } => {
  let closedAt: number | undefined;
  const closed = new Promise<void>((resolve) => {
    if (!client.connected && client.disconnected) {
      closedAt = performance.now();
      resolve();
      return;
    }
    client.once('close', () => {
      closedAt ??= performance.now();
      resolve();
    });
  });
  return {
    async elapsedSince(start: number) {
      await withTimeout(closed, timeoutMs, `${what} to be closed`);
      return closedAt! - start;
    },
  };
};

/** Proves the session is alive with a round trip: a SUBACK granting QoS 1 for a topic the client may subscribe to. */
export const assertStillConnected = async (client: MqttClient, topic: string): Promise<void> => {
  assert.equal(client.connected, true, 'client is still connected');
  const granted = await withTimeout(client.subscribeAsync(topic, { qos: 1 }), 2000, `SUBACK for ${topic}`);
  assert.equal(granted[0]?.qos, 1, `subscription to ${topic} granted`);
  assert.equal(client.connected, true, 'client is still connected after a round trip');
};

/** The value of trustgate_mqtt_connection_refusals_total{reason} at /metrics (0 if absent). */
export const refusalCount = async (server: TestServer, reason: string): Promise<number> => {
  const response = await fetch(`${server.url}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  const line = text.split('\n').find((l) => l.startsWith(`trustgate_mqtt_connection_refusals_total{reason="${reason}"} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
};

/** All refusal counters, by reason. */
export const refusalCounts = async (server: TestServer): Promise<Map<string, number>> => {
  const response = await fetch(`${server.url}/metrics`);
  const text = await response.text();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^trustgate_mqtt_connection_refusals_total\{reason="([^"]+)"\} (\d+(?:\.\d+)?)$/gm)) {
    counts.set(match[1]!, Number(match[2]));
  }
  return counts;
};

export const agentsOf = async (server: TestServer, tenant: string): Promise<any[]> => {
  const answer = await server.api(tenant, '/agents');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.ok(Array.isArray(answer.body));
  return answer.body;
};

/** A CA uploaded to `tenant` and verified (proof of possession); returns the CA and its resource. */
export const verifiedCa = async (server: TestServer, tenant: string, subject?: string): Promise<{ ca: TestCertificate; id: string }> => {
  const ca = await createCa(subject ? { subject } : {});
  const resource = await uploadCaOk(server, tenant, ca);
  const answer = await verify(server, tenant, resource.id, (await proofFor(ca, await registrationCodeOf(server, tenant, resource.id))).certificatePem);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.isVerified, true);
  return { ca, id: resource.id };
};

/** An agent certificate with CN `cn` issued by `ca`. */
export const agentCertificate = (ca: TestCertificate, cn: string, options: IssueOptions = {}): Promise<TestCertificate> =>
  issueCertificate(ca, { subject: `CN=${cn}`, ...options });
