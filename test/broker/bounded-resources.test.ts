import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { loadDevSigningKey, mintDevToken } from '../../src/auth/index.ts';
import { withTimeout } from '../support/broker-helpers.ts';
import { mqttField, mqttPacket } from '../support/mqtt-wire.ts';
import { procStatus, resetPeakRss } from '../support/process-memory.ts';
import { callApi, spawnServer, type SpawnedServer } from '../support/spawn-server.ts';
import { createCa, issueCertificate } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';

// Bounded resources (docs/decisions/0015-broker-quotas.md), against the real server in a child process (its RSS is
// read from /proc): one tenant's abusive clients — a subscriber that stops reading, QoS 2,
// retained and queued floods from several client ids — neither stall another tenant's agent →
// application messages nor grow the broker's memory past a stated bound. Every wait is bounded.

const ABUSER = 'quota-abuser';
const VICTIM = 'quota-victim';
const VICTIM_AGENT = `${VICTIM}_sensor-1`;
const MIB = 1024 * 1024;
/** The caps this file runs with (the unread-byte cap and the others: docs/config.md's defaults). */
const CAPS = {
  TRUSTGATE_MQTT_MAX_QUEUED_PER_TENANT: '300',
  TRUSTGATE_MQTT_MAX_RETAINED_PER_TENANT: '100',
};
/** What the caps above allow to be stored at most: 300 queued + 100 retained packets of 120 KiB
 *  (~47 MiB), plus the transient buffers of the floods. The code before the caps stored >500 MiB. */
const RSS_GROWTH_BOUND = 200 * MIB;
/** Another tenant's message must arrive within this, whatever the abuser does. */
const VICTIM_LATENCY_BOUND_MS = 3_000;


// ---- MQTT 3.1.1 packets by hand -------------------------------------------------------------

const connectPacket = (clientId: string, tenant: string, password: string, clean: boolean): Buffer =>
  mqttPacket(0x10, Buffer.concat([mqttField('MQTT'), Buffer.from([4, 0xc0 | (clean ? 0x02 : 0), 0, 60]), mqttField(clientId), mqttField(tenant), mqttField(password)]));
const subscribePacket = (filter: string, qos: 0 | 1): Buffer => mqttPacket(0x82, Buffer.concat([Buffer.from([0, 1]), mqttField(filter), Buffer.from([qos])]));
const publishPacket = (topic: string, payload: Buffer, options: { qos: 0 | 1 | 2; retain?: boolean; messageId?: number }): Buffer => {
  const firstByte = 0x30 | (options.qos << 1) | (options.retain ? 1 : 0);
  const id = options.qos > 0 ? Buffer.from([(options.messageId ?? 1) >> 8, (options.messageId ?? 1) & 0xff]) : Buffer.alloc(0);
  return mqttPacket(firstByte, Buffer.concat([mqttField(topic), id, payload]));
};

// ---- the world --------------------------------------------------------------------------------

let server: SpawnedServer;
let dataDir: string;
let brokerRootCaPem: string;
const tokens: Record<string, string> = {};
const sockets = new Set<TLSSocket>();
const clients: MqttClient[] = [];

const mqttOptions = () => ({ ca: brokerRootCaPem, servername: 'localhost', reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4 as const });

const connectApplication = async (tenant: string, clientId: string): Promise<MqttClient> => {
  const client = await withTimeout(mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttPort}`, {
    ...mqttOptions(), clientId, username: tenant, password: tokens[tenant],
  }), 7_000, `application ${clientId} connecting`);
  client.on('error', () => undefined);
  clients.push(client);
  return client;
};

/** A raw TLS connection of an application of `tenant` that sent CONNECT and got CONNACK 0. */
const openApplicationSocket = async (tenant: string, clientId: string, clean = true): Promise<TLSSocket> => {
  const socket = tlsConnect({ host: '127.0.0.1', port: server.mqttPort, servername: 'localhost', ca: brokerRootCaPem });
  sockets.add(socket);
  socket.on('error', () => undefined);
  socket.once('close', () => sockets.delete(socket));
  await withTimeout(new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  }), 5_000, 'TLS handshake');
  const connack = new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.write(connectPacket(clientId, tenant, tokens[tenant]!, clean));
  const answer = await withTimeout(connack, 5_000, `CONNACK for ${clientId}`);
  assert.ok(answer[0] === 0x20 && answer[3] === 0, `CONNACK 0 for ${clientId}: ${answer.subarray(0, 4).toString('hex')}`);
  return socket;
};

const isClosed = (socket: TLSSocket) => socket.closed || socket.destroyed;
const closed = (socket: TLSSocket): Promise<void> => isClosed(socket) ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));

/** Writes packets while the connection is open, waiting for each drain; answers how many went. */
const writeWhileOpen = async (socket: TLSSocket, packets: Iterable<Buffer>): Promise<number> => {
  let written = 0;
  for (const bytes of packets) {
    if (isClosed(socket)) break;
    written += 1;
    if (!socket.write(bytes)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed(socket)]);
  }
  return written;
};

const metric = async (name: string, labels = ''): Promise<number> => {
  const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ')[1]) : 0;
};

/** The victim tenant: its agent publishes, its application receives; each message's latency. */
class VictimFlow {
  readonly latenciesMs: number[] = [];
  readonly failures: string[] = [];
  #sequence = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  readonly #agent: MqttClient;
  readonly #app: MqttClient;

  constructor(agent: MqttClient, app: MqttClient) {
    this.#agent = agent;
    this.#app = app;
  }

  async once(): Promise<number> {
    const sequence = String(++this.#sequence);
    const started = Date.now();
    let listener: ((topic: string, payload: Buffer) => void) | undefined;
    const arrived = new Promise<void>((resolve) => {
      listener = (_topic, payload) => { if (payload.toString() === sequence) resolve(); };
      this.#app.on('message', listener);
    });
    try {
      await this.#agent.publishAsync(`tc/${VICTIM}/${VICTIM_AGENT}/o/telemetry`, sequence, { qos: 1 });
      await withTimeout(arrived, VICTIM_LATENCY_BOUND_MS, `the victim's message ${sequence} (agent -> application)`);
    } finally {
      this.#app.off('message', listener!);
    }
    return Date.now() - started;
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        try {
          this.latenciesMs.push(await this.once());
        } catch (error) {
          this.failures.push((error as Error).message);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await withTimeout(this.#loop ?? Promise.resolve(), 10_000, 'the victim flow to stop').catch(() => undefined);
  }
}

describe('bounded broker resources: one tenant\'s abusive clients', { concurrency: false }, () => {
  let victim: VictimFlow;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'trustgate-quotas-'));
    server = await spawnServer({ dataDir, env: CAPS });
    const key = await loadDevSigningKey(dataDir);
    assert.ok(key, 'the server created its dev signing key');
    for (const tenant of [ABUSER, VICTIM]) tokens[tenant] = await mintDevToken(key, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: 3600 });
    brokerRootCaPem = await (await fetch(`${server.url}/broker-ca.pem`, { signal: AbortSignal.timeout(5_000) })).text();

    const api = (path: string, body?: unknown) => callApi(server.apiUrl, tokens[VICTIM]!, path, body);
    const ca = await createCa({ subject: `CN=${VICTIM}-ca` });
    const uploaded = await api('/caCertificates', { name: 'victim', caCertificate: ca.certificatePem });
    assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
    const code = await api(`/caCertificates/${uploaded.body.id}/registrationCode`);
    const proof = await issueCertificate(ca, { subject: `CN=${code.body.registrationCode}`, version: 1 });
    assert.equal((await api(`/caCertificates/${uploaded.body.id}/verify`, { verificationCertificate: proof.certificatePem })).status, 200);
    const agentCertificate = await issueCertificate(ca, { subject: 'CN=sensor-1' });
    const agent = await withTimeout(mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttPort}`, {
      ...mqttOptions(), clientId: VICTIM_AGENT, cert: agentCertificate.certificatePem, key: agentCertificate.privateKeyPem,
    }), 7_000, 'the victim agent connecting');
    clients.push(agent);
    const app = await connectApplication(VICTIM, `${VICTIM}_app`);
    await withTimeout(app.subscribeAsync(`tc/${VICTIM}/+/o/#`, { qos: 1 }), 5_000, 'the victim application SUBACK');
    victim = new VictimFlow(agent, app);
    await victim.once();
  });

  after(async () => {
    if (process.env.DUMP_LOG) console.log(server.logLines().filter((l) => Number(l.level) >= 40).slice(-30));
    await victim?.stop();
    for (const socket of sockets) socket.destroy();
    await Promise.all(clients.map((client) => withTimeout(new Promise<void>((resolve) => client.end(true, {}, () => resolve())), 2_000, 'end').catch(() => undefined)));
    if (server) await server.stop('SIGTERM', { timeoutMs: 5_000 }).catch(() => server.kill9());
    if (dataDir) await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
  });

  test('a subscriber that stops reading does not stall another tenant\'s agent -> application messages and is disconnected as a slow consumer', { timeout: 60_000 }, async (t) => {
    const slow = await openApplicationSocket(ABUSER, `${ABUSER}_stops-reading`);
    const suback = new Promise<void>((resolve) => slow.once('data', () => resolve()));
    slow.write(subscribePacket(`tc/${ABUSER}/#`, 0));
    await withTimeout(suback, 5_000, 'SUBACK of the subscriber that will stop reading');
    slow.pause(); // from here on it reads nothing: the broker's writes pile up
    const slowClosed = closed(slow);

    const flooder = await connectApplication(ABUSER, `${ABUSER}_flooder`);
    const disconnectLog = () => server.logLines().find((line) => String(line.msg).startsWith('slow consumer disconnected') && line.clientId === `${ABUSER}_stops-reading`);
    victim.start();
    const payload = Buffer.alloc(64 * 1024, 0x61);
    // At most 40 MiB: past what the loopback socket buffers hold plus the 8 MiB cap, and far past
    // the 100 messages that held every slot of aedes' shared emitter before.
    for (let sent = 0; sent < 640 && (sent % 16 !== 0 || !disconnectLog()); sent += 1) {
      await flooder.publishAsync(`tc/${ABUSER}/some-agent/i/flood`, payload, { qos: 0 });
    }
    await waitUntil(() => disconnectLog() !== undefined, 20_000, 'the slow consumer\'s disconnection in the broker log');
    // Reading again, the client finds its connection closed (after what was buffered for it).
    slow.resume();
    await withTimeout(slowClosed, 10_000, 'the slow consumer\'s connection to end');
    // The victim's flow kept going during the flood and goes on afterwards.
    const duringFlood = victim.latenciesMs.length;
    const countAfterClose = victim.latenciesMs.length;
    await waitUntil(() => victim.latenciesMs.length >= countAfterClose + 3 || victim.failures.length > 0, 10_000, 'three more victim messages');
    await victim.stop();

    t.diagnostic(`victim messages: ${duringFlood} during the flood, ${victim.latenciesMs.length} in all, slowest ${Math.max(...victim.latenciesMs)} ms`);
    assert.deepEqual(victim.failures, [], 'every victim message arrived within the bound');
    assert.ok(victim.latenciesMs.length >= 3, `victim messages: ${victim.latenciesMs.length} (${duringFlood} during the flood)`);
    assert.ok(Math.max(...victim.latenciesMs) < VICTIM_LATENCY_BOUND_MS, `slowest victim message ${Math.max(...victim.latenciesMs)} ms`);
    const hits = await metric('trustgate_mqtt_cap_hits_total', '{cap="outgoingBytes"}') + await metric('trustgate_mqtt_cap_hits_total', '{cap="slowConsumerTimeout"}');
    assert.ok(hits >= 1, 'a slow-consumer cap hit is counted');
    assert.match(String(disconnectLog()?.msg), /unread bytes exceed|did not drain within/, 'the disconnection is logged with its reason');
  });

  test('QoS 2, retained and queued floods from several client ids cannot push the broker\'s RSS 200 MiB past where it was', { timeout: 60_000 }, async (t) => {
    const payload = Buffer.alloc(120 * 1024, 0x62);
    // Three persistent sessions that will be away while messages for them pile up.
    const sessionsBefore = await metric('trustgate_mqtt_sessions');
    for (let i = 1; i <= 3; i += 1) {
      const socket = await openApplicationSocket(ABUSER, `${ABUSER}_away-${i}`, false);
      const suback = new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.write(subscribePacket(`tc/${ABUSER}/some-agent/i/queued/#`, 1));
      await withTimeout(suback, 5_000, 'SUBACK of a persistent session');
      socket.destroy();
      await closed(socket);
    }
    await waitUntil(async () => await metric('trustgate_mqtt_sessions') <= sessionsBefore, 5_000, 'the broker saw the three sessions go');
    const rssBefore = await procStatus(server.process.pid, 'VmRSS');
    const peakWasReset = await resetPeakRss(server.process.pid);

    // QoS 2 from three persistent client ids: aedes stored each until a PUBREL that never comes.
    const qos2 = await Promise.all([1, 2, 3].map(async (i) => {
      const socket = await openApplicationSocket(ABUSER, `${ABUSER}_qos2-${i}`, false);
      socket.resume();
      const packets = function* () {
        for (let id = 1; id <= 1000; id += 1) yield publishPacket(`tc/${ABUSER}/some-agent/i/q2`, payload, { qos: 2, messageId: id });
      };
      const written = await writeWhileOpen(socket, packets());
      await withTimeout(closed(socket), 5_000, 'the QoS 2 publisher\'s connection to close');
      return written;
    }));
    // Retained messages on 500 topics and 500 QoS 1 messages for the three sessions away.
    const publisher = await openApplicationSocket(ABUSER, `${ABUSER}_publisher`);
    publisher.resume();
    await writeWhileOpen(publisher, (function* () {
      for (let n = 0; n < 500; n += 1) {
        yield publishPacket(`tc/${ABUSER}/some-agent/i/retained/${n}`, payload, { qos: 0, retain: true });
        yield publishPacket(`tc/${ABUSER}/some-agent/i/queued/m`, payload, { qos: 1, messageId: n + 1 });
      }
    })());
    // Positive control: the broker has handled the flood once a marker sent after it arrives; then
    // a new subscriber gets the retained messages the cap allowed.
    const watcher = await connectApplication(ABUSER, `${ABUSER}_watcher`);
    const marker = new Promise<void>((resolve) => watcher.on('message', () => resolve()));
    await withTimeout(watcher.subscribeAsync(`tc/${ABUSER}/some-agent/i/marker`, { qos: 0 }), 5_000, 'the watcher\'s SUBACK');
    publisher.write(publishPacket(`tc/${ABUSER}/some-agent/i/marker`, Buffer.from('m'), { qos: 0 }));
    await withTimeout(marker, 20_000, 'the marker after the flood');
    const reader = await connectApplication(ABUSER, `${ABUSER}_reader`);
    let retained = 0;
    reader.on('message', (_topic, _payload, received) => { if (received.retain) retained += 1; });
    await withTimeout(reader.subscribeAsync(`tc/${ABUSER}/some-agent/i/retained/#`, { qos: 0 }), 5_000, 'the reader\'s SUBACK');
    await waitUntil(() => retained >= 100, 10_000, '100 retained messages');

    const rssAfter = await procStatus(server.process.pid, 'VmRSS');
    const peak = peakWasReset ? await procStatus(server.process.pid, 'VmHWM') : rssAfter;
    t.diagnostic(`broker RSS ${(rssBefore / MIB).toFixed(0)} MiB -> ${(rssAfter / MIB).toFixed(0)} MiB, peak ${peakWasReset ? `${(peak / MIB).toFixed(0)} MiB` : 'unknown'}; QoS 2 packets written before each close: ${qos2.join(', ')}`);
    for (const written of qos2) assert.ok(written < 100, `a QoS 2 publisher could write ${written} packets before the close`);
    assert.ok(rssAfter - rssBefore < RSS_GROWTH_BOUND, `broker RSS grew by ${((rssAfter - rssBefore) / MIB).toFixed(0)} MiB`);
    assert.ok(peak - rssBefore < RSS_GROWTH_BOUND, `broker peak RSS grew by ${((peak - rssBefore) / MIB).toFixed(0)} MiB`);
    assert.equal(await metric('trustgate_mqtt_cap_hits_total', '{cap="qos2Publish"}'), 3);
    assert.ok(await metric('trustgate_mqtt_cap_hits_total', '{cap="retainedPerTenant"}') >= 400);
    assert.equal(retained, 100, 'the tenant keeps exactly as many retained messages as its cap');
    assert.ok(await metric('trustgate_mqtt_cap_hits_total', '{cap="queuedPerTenant"}') >= 1);
  });
});
