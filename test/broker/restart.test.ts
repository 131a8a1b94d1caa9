import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { loadDevSigningKey, mintDevToken } from '../../src/auth/index.ts';
import { callApi, spawnServer, type SpawnedServer } from '../support/spawn-server.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';
import { withTimeout } from '../support/with-timeout.ts';

// The real CLI server (`bin/trustgate serve`) stopped and started again on one data dir: what was
// onboarded stays onboarded (same agent ids, the CA still verified, the same broker root CA), no
// session survives (every agent offline until it reconnects) and agents get back in without any
// re-verification. Graceful (SIGTERM) and abrupt (SIGKILL).

const TENANT = 'restart';
const AGENT_NAMES = ['pump-1', 'pump-2', 'valve-1'];
const clientIdOf = (name: string): string => `${TENANT}_${name}`;


const tempDirs: string[] = [];
const clients = new Set<MqttClient>();
const sockets = new Set<Socket>();

after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all([...clients].map(endClient));
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 })));
});

const tempDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'trustgate-restart-'));
  tempDirs.push(dir);
  return dir;
};

const endClient = (client: MqttClient): Promise<void> =>
  withTimeout(new Promise<void>((resolve) => client.end(true, {}, () => resolve())), 2_000, 'ending a client')
    .catch(() => undefined).finally(() => clients.delete(client));

/** What a test needs to talk to one running server. */
interface Session {
  readonly server: SpawnedServer;
  readonly brokerRootCaPem: string;
  api(path: string, body?: unknown): Promise<{ status: number; body: any }>;
  connectAgent(agent: TestCertificate, clientId: string): Promise<MqttClient>;
  connectApplication(): Promise<MqttClient>;
}

const sessionWith = async (server: SpawnedServer, token: string): Promise<Session> => {
  const rootCa = await fetch(`${server.url}/broker-ca.pem`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(rootCa.status, 200);
  const brokerRootCaPem = await rootCa.text();
  const options = { ca: brokerRootCaPem, servername: 'localhost', reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4 as const };
  const url = `mqtts://127.0.0.1:${server.mqttPort}`;
  const track = (client: MqttClient): MqttClient => {
    clients.add(client);
    return client;
  };
  return {
    server,
    brokerRootCaPem,
    api: (path, body) => callApi(server.apiUrl, token, path, body),
    connectAgent: async (agent, clientId) => track(await withTimeout(
      mqtt.connectAsync(url, { ...options, clientId, cert: agent.certificatePem, key: agent.privateKeyPem }), 7_000, `agent ${clientId} connecting`)),
    connectApplication: async () => track(await withTimeout(
      mqtt.connectAsync(url, { ...options, clientId: `${TENANT}_app`, username: TENANT, password: token }), 7_000, 'application connecting')),
  };
};

const tokenFor = async (dataDir: string): Promise<string> => {
  const key = await loadDevSigningKey(dataDir);
  assert.ok(key, 'the server created its dev signing key in the data dir');
  return mintDevToken(key, { tenant: TENANT, scopes: ['mcmqtt.admin'], ttlSeconds: 3600 });
};

/** Uploads, fetches the registration code, verifies with an X.509 v1 proof (as openssl makes it). */
const registerVerifiedCa = async (session: Session): Promise<{ ca: TestCertificate; id: string }> => {
  const ca = await createCa({ subject: `CN=${TENANT}-ca` });
  const uploaded = await session.api('/caCertificates', { name: 'restart CA', caCertificate: ca.certificatePem });
  assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
  const code = await session.api(`/caCertificates/${uploaded.body.id}/registrationCode`);
  assert.equal(code.status, 200, JSON.stringify(code.body));
  const proof = await issueCertificate(ca, { subject: `CN=${code.body.registrationCode}`, version: 1 });
  const verified = await session.api(`/caCertificates/${uploaded.body.id}/verify`, { verificationCertificate: proof.certificatePem });
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  return { ca, id: uploaded.body.id };
};

const listAgents = async (session: Session): Promise<any[]> => {
  const answer = await session.api('/agents');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return [...answer.body].sort((a, b) => String(a.clientId).localeCompare(String(b.clientId)));
};

/** Polls GET /agents until `condition` holds for the list (bounded). */
const waitForAgents = async (session: Session, condition: (agents: any[]) => boolean, what: string, ms = 5_000): Promise<any[]> => {
  let agents: any[] = [];
  await waitUntil(async () => condition(agents = await listAgents(session)), ms, what)
    .catch(() => assert.fail(`${what} within ${ms} ms; GET /agents: ${JSON.stringify(agents)}`));
  return agents;
};

const allOnline = (agents: any[]) => agents.length === AGENT_NAMES.length && agents.every((agent) => agent.online === true);

const closeOf = (client: MqttClient): Promise<void> => new Promise((resolve) => {
  if (!client.connected) resolve();
  else client.once('close', () => resolve());
});

/** Onboards the three agents on `session`'s server; returns their certificates and the agents list. */
const onboardThree = async (session: Session, ca: TestCertificate) => {
  const certificates = await Promise.all(AGENT_NAMES.map((name) => issueCertificate(ca, { subject: `CN=${name}` })));
  const connected = await Promise.all(certificates.map((certificate, i) => session.connectAgent(certificate, clientIdOf(AGENT_NAMES[i]!))));
  return { certificates, connected };
};

/** Starts a server on `dataDir` again and checks everything that must have survived. */
const restartAndCheck = async (
  t: { after(fn: () => unknown): void; diagnostic(message: string): void },
  dataDir: string,
  token: string,
  before: { agents: any[]; caId: string; brokerRootCaPem: string; certificates: TestCertificate[] },
): Promise<void> => {
  const started = Date.now();
  const server = await spawnServer({ dataDir, t });
  t.diagnostic(`restarted in ${Date.now() - started} ms`);
  const session = await sessionWith(server, token);
  try {
    assert.equal(session.brokerRootCaPem, before.brokerRootCaPem, 'the broker root CA that agents trust is the same after the restart');

    const agents = await listAgents(session);
    assert.deepEqual(agents.map((agent) => agent.id), before.agents.map((agent) => agent.id), 'the same three agents, same ids');
    for (const [i, agent] of agents.entries()) {
      const previous = before.agents[i];
      assert.equal(agent.clientId, previous.clientId);
      assert.equal(agent.commonName, previous.commonName);
      assert.equal(agent.caCertificateId, before.caId);
      assert.equal(agent.certificateFingerprint, previous.certificateFingerprint);
      assert.equal(agent.firstConnectedAt, previous.firstConnectedAt);
      assert.equal(agent.enabled, true);
      assert.equal(agent.online, false, `${agent.clientId} is listed online after the restart, before it reconnected`);
    }

    const ca = await session.api(`/caCertificates/${before.caId}`);
    assert.equal(ca.status, 200, JSON.stringify(ca.body));
    assert.equal(ca.body.isVerified, true, 'the CA is still verified');

    // No API call in between: the restarted broker trusts the CA from its loaded index.
    const app = await session.connectApplication();
    await withTimeout(app.subscribeAsync(`tc/${TENANT}/#`, { qos: 1 }), 5_000, 'application SUBACK');
    const reconnected = await Promise.all(before.certificates.map((certificate, i) => session.connectAgent(certificate, clientIdOf(AGENT_NAMES[i]!))));
    const online = await waitForAgents(session, allOnline, 'all three agents online again');
    assert.deepEqual(online.map((agent) => agent.id), before.agents.map((agent) => agent.id), 'reconnecting keeps the ids: no new agents');
    for (const [i, agent] of online.entries()) {
      assert.equal(agent.firstConnectedAt, before.agents[i].firstConnectedAt);
      assert.ok(Date.parse(agent.lastConnectedAt) > Date.parse(before.agents[i].lastConnectedAt), `${agent.clientId}: lastConnectedAt moved on`);
    }

    const topic = `tc/${TENANT}/${clientIdOf(AGENT_NAMES[2]!)}/o/status`;
    const arrived = withTimeout(new Promise<string>((resolve) => app.on('message', (t2, payload) => {
      if (t2 === topic) resolve(payload.toString());
    })), 5_000, 'the application receiving after the restart');
    await withTimeout(reconnected[2]!.publishAsync(topic, 'back', { qos: 1 }), 5_000, 'PUBACK after the restart');
    assert.equal(await arrived, 'back');
    await Promise.all([app, ...reconnected].map(endClient));
  } finally {
    const exit = await server.stop('SIGTERM', { timeoutMs: 10_000 });
    assert.equal(exit, 0, `the restarted server exits 0 on SIGTERM; output:\n${server.output().slice(-2000)}`);
  }
};

describe('restarting the server on the same data dir', { timeout: 120_000 }, () => {
  test('after SIGTERM: the 3 agents are listed with the same ids, offline, and reconnect without re-verification', async (t) => {
    const dataDir = await tempDir();
    const first = await spawnServer({ dataDir, t });
    const token = await tokenFor(dataDir);
    const session = await sessionWith(first, token);
    const { ca, id: caId } = await registerVerifiedCa(session);
    const { certificates, connected } = await onboardThree(session, ca);
    const agents = await waitForAgents(session, allOnline, 'the three agents onboarded and online');

    const closed = Promise.all(connected.map(closeOf));
    const stopped = Date.now();
    const exit = await first.stop('SIGTERM', { timeoutMs: 10_000 });
    t.diagnostic(`SIGTERM with 3 agents connected: exit ${exit} after ${Date.now() - stopped} ms`);
    assert.equal(exit, 0, `exit code after SIGTERM; output:\n${first.output().slice(-2000)}`);
    await withTimeout(closed, 5_000, 'the agents seeing their connections closed');
    const errors = first.logLines().filter((line) => Number(line.level) >= 50);
    assert.deepEqual(errors, [], 'no error was logged while shutting down with agents connected');
    await Promise.all(connected.map(endClient));

    await restartAndCheck(t, dataDir, token, { agents, caId, brokerRootCaPem: session.brokerRootCaPem, certificates });
  });

  test('after SIGKILL: the agents\' records survive (same ids) and show offline until they reconnect', async (t) => {
    const dataDir = await tempDir();
    const first = await spawnServer({ dataDir, t });
    const token = await tokenFor(dataDir);
    const session = await sessionWith(first, token);
    const { ca, id: caId } = await registerVerifiedCa(session);
    const { certificates, connected } = await onboardThree(session, ca);
    // Every CONNACK 0 has arrived: what it acknowledged must survive an immediate SIGKILL.
    const agents = await listAgents(session);
    assert.ok(allOnline(agents), JSON.stringify(agents));
    await first.kill9();
    await Promise.all(connected.map(endClient));

    await restartAndCheck(t, dataDir, token, { agents, caId, brokerRootCaPem: session.brokerRootCaPem, certificates });
  });

  test('SIGTERM exits within 5 s even while a TCP client holds a TLS handshake open', async (t) => {
    const dataDir = await tempDir();
    const server = await spawnServer({ dataDir, t });
    // A port scanner, a load balancer probe or a client stuck mid-handshake: connected, silent.
    const descriptors = async () => (await readdir(`/proc/${server.process.pid}/fd`)).length;
    const descriptorsBefore = await descriptors();
    const idle = netConnect(server.mqttPort, '127.0.0.1');
    sockets.add(idle);
    idle.on('error', () => undefined);
    idle.resume();
    await withTimeout(new Promise((resolve) => idle.once('connect', resolve)), 5_000, 'TCP connect');
    // The server holds it once it has accepted it (a descriptor more), not merely the kernel.
    await waitUntil(async () => await descriptors() > descriptorsBefore, 5_000, 'the server accepted the idle connection');

    const stopped = Date.now();
    let exit: number | null | undefined;
    let failure: unknown;
    try {
      exit = await server.stop('SIGTERM', { timeoutMs: 5_000 });
    } catch (error) {
      failure = error;
    } finally {
      idle.destroy();
    }
    t.diagnostic(`SIGTERM with an idle TCP connection on the MQTT port: ${failure ? 'no exit within 5 s (SIGKILLed)' : `exit ${exit} after ${Date.now() - stopped} ms`}`);
    assert.ok(failure === undefined, 'the server did not exit within 5 s of SIGTERM while a TCP connection to the MQTT port was open (it was SIGKILLed)');
    assert.equal(exit, 0);
  });
});
