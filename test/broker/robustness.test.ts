import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
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
import { createCa, issueCertificate, type TestCertificate } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';

// The broker under hostile and broken connections, while a real agent stays connected and keeps
// exchanging messages with a tenant application the whole time. The server is the real CLI in a
// child process, so its RSS and open descriptors can be read from /proc without the test's own.
// Every wait is bounded and every socket this file opens is destroyed in `after`.

const TENANT = 'robust';
const AGENT_ID = `${TENANT}_sensor-1`;
/** The broker's handshake and CONNECT timeouts are 10 s; this is the bound the tests allow. */
const DROP_BOUND_MS = 15_000;
/** A connection that sent something invalid must be gone this soon. */
const PROMPT_CLOSE_MS = 3_000;
const MIB = 1024 * 1024;

// ---- small bounded helpers ------------------------------------------------------------------

/** Paces the background exchange and bounds a drain wait; no test waits on it for an outcome. */
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));


/** Every raw socket this file opens; `after` destroys whatever is left. */
const openSockets = new Set<Socket>();
const track = <T extends Socket>(socket: T): T => {
  openSockets.add(socket);
  socket.on('error', () => undefined); // resets and aborted handshakes are expected here
  socket.resume(); // a paused socket never sees the peer's FIN after unread data (a TLS alert)
  socket.once('close', () => openSockets.delete(socket));
  return socket;
};

const isClosed = (socket: Socket): boolean => socket.closed || socket.destroyed;

/** Milliseconds until the socket closes (measured from `since`), or undefined if still open after `ms`. */
const closedWithin = (socket: Socket, ms: number, since = Date.now()): Promise<number | undefined> => {
  if (isClosed(socket)) return Promise.resolve(Date.now() - since);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('close', onClose);
      resolve(undefined);
    }, Math.max(0, since + ms - Date.now()));
    const onClose = () => {
      clearTimeout(timer);
      resolve(Date.now() - since);
    };
    socket.once('close', onClose);
  });
};

// ---- MQTT 3.1.1 packets by hand ---------------------------------------------------------------

const connectPacket = (options: { clientId: string; protocolName?: string; level?: number; connectFlags?: number; firstByte?: number }): Buffer =>
  mqttPacket(options.firstByte ?? 0x10, Buffer.concat([
    mqttField(options.protocolName ?? 'MQTT'),
    Buffer.from([options.level ?? 4, options.connectFlags ?? 0x02, 0x00, 30]), // clean session, keep alive 30 s
    mqttField(options.clientId),
  ]));

const publishPacket = (topic: string, payload: string): Buffer => mqttPacket(0x30, Buffer.concat([mqttField(topic), Buffer.from(payload)]));

/** The first bytes of a PUBLISH (or other packet) whose remaining length claims 268,435,455 bytes (256 MiB - 1, the MQTT maximum). */
const HUGE_LENGTH = Buffer.from([0xff, 0xff, 0xff, 0x7f]);

// ---- the world: server, CA, the long-lived agent and application ----------------------------

let server: SpawnedServer;
let dataDir: string;
let brokerRootCaPem: string;
let token: string;
let ca: TestCertificate;
let exchange: Exchange;
const clients: MqttClient[] = [];

const api = (path: string, body?: unknown) => callApi(server.apiUrl, token, path, body);

const agentCertificate = (commonName: string): Promise<TestCertificate> => issueCertificate(ca, { subject: `CN=${commonName}` });

const mqttOptions = () => ({ ca: brokerRootCaPem, servername: 'localhost', reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4 as const });

const connectAgent = async (agent: TestCertificate, clientId: string): Promise<MqttClient> => {
  const client = await withTimeout(mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttPort}`, {
    ...mqttOptions(), clientId, cert: agent.certificatePem, key: agent.privateKeyPem,
  }), 7_000, `agent ${clientId} connecting`);
  clients.push(client);
  return client;
};

const connectApplication = async (): Promise<MqttClient> => {
  const client = await withTimeout(mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttPort}`, {
    ...mqttOptions(), clientId: `${TENANT}_app-1`, username: TENANT, password: token,
  }), 7_000, 'application connecting');
  clients.push(client);
  return client;
};

const endClient = (client: MqttClient): Promise<void> =>
  withTimeout(new Promise<void>((resolve) => client.end(true, {}, () => resolve())), 2_000, 'ending a client').catch(() => undefined);

/** Resolves with the next message on `topic` carrying `payload`, bounded. */
const nextMessage = (client: MqttClient, topic: string, payload: string, ms: number): Promise<void> => {
  let listener: ((t: string, p: Buffer) => void) | undefined;
  return withTimeout(new Promise<void>((resolve) => {
    listener = (t, p) => {
      if (t === topic && p.toString() === payload) resolve();
    };
    client.on('message', listener);
  }), ms, `message ${payload} on ${topic}`).finally(() => client.off('message', listener!));
};

interface Mark {
  readonly roundTrips: number;
  readonly failures: number;
  readonly at: number;
}

/**
 * The agent publishes to its outbound topic, the application receives it and answers on the
 * agent's inbound topic, the agent receives that: one round trip. A loop repeats it every 100 ms
 * for the whole file; every attack checks that it kept working meanwhile.
 */
class Exchange {
  roundTrips = 0;
  slowestMs = 0;
  readonly failures: string[] = [];
  agentCloses = 0;
  appCloses = 0;
  #sequence = 0;
  #running = false;
  #loop: Promise<void> | undefined;

  readonly agent: MqttClient;
  readonly app: MqttClient;

  constructor(agent: MqttClient, app: MqttClient) {
    this.agent = agent;
    this.app = app;
    agent.on('close', () => { this.agentCloses++; });
    app.on('close', () => { this.appCloses++; });
  }

  async roundTrip(): Promise<number> {
    const sequence = ++this.#sequence;
    const started = Date.now();
    const up = `tc/${TENANT}/${AGENT_ID}/o/heartbeat`;
    const down = `tc/${TENANT}/${AGENT_ID}/i/echo`;
    const upArrived = nextMessage(this.app, up, `up-${sequence}`, 4_000);
    await withTimeout(this.agent.publishAsync(up, `up-${sequence}`, { qos: 1 }), 4_000, 'the agent\'s PUBACK');
    await upArrived;
    const downArrived = nextMessage(this.agent, down, `down-${sequence}`, 4_000);
    await withTimeout(this.app.publishAsync(down, `down-${sequence}`, { qos: 1 }), 4_000, 'the application\'s PUBACK');
    await downArrived;
    return Date.now() - started;
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        try {
          const ms = await this.roundTrip();
          this.roundTrips++;
          this.slowestMs = Math.max(this.slowestMs, ms);
        } catch (error) {
          this.failures.push(`${new Date().toISOString()} ${(error as Error).message}`);
        }
        await delay(100);
      }
    })();
  }

  mark(): Mark {
    return { roundTrips: this.roundTrips, failures: this.failures.length, at: Date.now() };
  }

  /** No round trip failed since `mark`, some completed meanwhile, both stayed connected, and one more works now. */
  async assertHealthySince(mark: Mark, what: string): Promise<void> {
    assert.deepEqual(this.failures.slice(mark.failures), [], `agent <-> application round trips failed during ${what}`);
    assert.equal(this.agentCloses, 0, `the agent's connection was closed during ${what}`);
    assert.equal(this.appCloses, 0, `the application's connection was closed during ${what}`);
    if (Date.now() - mark.at > 1_500) assert.ok(this.roundTrips > mark.roundTrips, `no round trip completed during ${what}`);
    await withTimeout(this.roundTrip(), 5_000, `a round trip right after ${what}`);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await withTimeout(this.#loop ?? Promise.resolve(), 10_000, 'the exchange loop to stop').catch(() => undefined);
  }
}

// ---- raw connections --------------------------------------------------------------------------

/** A TLS connection to the broker (with a client certificate if given), resolved once the handshake is done. */
const openTls = async (certificate?: TestCertificate): Promise<TLSSocket> => {
  const socket = track(tlsConnect({
    host: '127.0.0.1', port: server.mqttPort, servername: 'localhost', ca: brokerRootCaPem,
    ...(certificate ? { cert: certificate.certificatePem, key: certificate.privateKeyPem } : {}),
  }));
  await withTimeout(new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  }), 5_000, 'TLS handshake');
  return socket;
};

/** Collects what the broker sends on a raw connection. */
const received = (socket: Socket): { bytes: () => Buffer } => {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { bytes: () => Buffer.concat(chunks) };
};

const CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00]);

/** A raw TLS connection that sent a valid CONNECT and got CONNACK 0. */
const openConnectedTls = async (certificate: TestCertificate, clientId: string): Promise<{ socket: TLSSocket; bytes: () => Buffer }> => {
  const socket = await openTls(certificate);
  const log = received(socket);
  socket.write(connectPacket({ clientId }));
  // The CONNACK (4 bytes) or the close, whichever comes first.
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => {
      if (log.bytes().length < 4 && !isClosed(socket)) return;
      socket.off('data', check);
      socket.off('close', check);
      resolve();
    };
    socket.on('data', check);
    socket.on('close', check);
    check();
  }), 5_000, `a CONNACK for ${clientId}`).catch(() => undefined);
  if (log.bytes().length < 4) assert.fail(`no CONNACK for ${clientId}; got ${log.bytes().toString('hex')}`);
  assert.deepEqual(log.bytes().subarray(0, 4), CONNACK_ACCEPTED, `CONNACK for ${clientId}`);
  return { socket, bytes: log.bytes };
};

const openTcp = async (): Promise<Socket> => {
  const socket = track(netConnect(server.mqttPort, '127.0.0.1'));
  await withTimeout(new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  }), 5_000, 'TCP connect');
  return socket;
};

/** A real ClientHello as Node's TLS client sends it, captured on a throwaway local TCP server. */
const captureClientHello = async (): Promise<Buffer> => {
  const capture = createNetServer();
  await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', () => resolve()));
  try {
    const hello = new Promise<Buffer>((resolve) => capture.once('connection', (socket) => {
      socket.once('data', (chunk: Buffer) => {
        resolve(chunk);
        socket.destroy();
      });
    }));
    track(tlsConnect({ host: '127.0.0.1', port: (capture.address() as AddressInfo).port, servername: 'localhost', rejectUnauthorized: false }));
    return await withTimeout(hello, 5_000, 'capturing a ClientHello');
  } finally {
    capture.close();
  }
};

/**
 * Writes `header`, then streams filler in 64 KiB chunks (up to `maxBytes`) until the broker closes
 * the connection. Returns how long that took after the header and how much was written.
 */
const streamUntilClosed = async (socket: TLSSocket, header: Buffer, maxBytes: number): Promise<{ closedAfterMs: number | undefined; written: number }> => {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const started = Date.now();
  socket.write(header);
  let written = 0;
  while (!isClosed(socket) && written < maxBytes && Date.now() - started < PROMPT_CLOSE_MS) {
    const flushed = socket.write(chunk);
    written += chunk.length;
    if (!flushed) {
      await Promise.race([
        new Promise((resolve) => socket.once('drain', resolve)),
        new Promise((resolve) => socket.once('close', resolve)),
        delay(500),
      ]);
    }
  }
  return { closedAfterMs: await closedWithin(socket, PROMPT_CLOSE_MS, started), written };
};

// ---- the broker process, seen from /proc ------------------------------------------------------

const openDescriptors = async (): Promise<number> => (await readdir(`/proc/${server.process.pid}/fd`)).length;
let baselineDescriptors = 0;

// ---- the tests ---------------------------------------------------------------------------------

describe('the broker under hostile connections while an agent keeps talking to its application', { timeout: 240_000 }, () => {
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'trustgate-robustness-'));
    server = await spawnServer({ dataDir });
    const key = await loadDevSigningKey(dataDir);
    assert.ok(key, 'the server created its dev signing key');
    token = await mintDevToken(key, { tenant: TENANT, scopes: ['mcmqtt.admin'], ttlSeconds: 3600 });
    const rootCa = await fetch(`${server.url}/broker-ca.pem`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(rootCa.status, 200);
    brokerRootCaPem = await rootCa.text();

    ca = await createCa({ subject: `CN=${TENANT}-ca` });
    const uploaded = await api('/caCertificates', { name: 'robustness', caCertificate: ca.certificatePem });
    assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
    const code = await api(`/caCertificates/${uploaded.body.id}/registrationCode`);
    const proof = await issueCertificate(ca, { subject: `CN=${code.body.registrationCode}`, version: 1 });
    const verified = await api(`/caCertificates/${uploaded.body.id}/verify`, { verificationCertificate: proof.certificatePem });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));

    const agent = await connectAgent(await agentCertificate('sensor-1'), AGENT_ID);
    const app = await connectApplication();
    await withTimeout(app.subscribeAsync(`tc/${TENANT}/#`, { qos: 1 }), 5_000, 'application SUBACK');
    await withTimeout(agent.subscribeAsync(`tc/${TENANT}/${AGENT_ID}/i/#`, { qos: 1 }), 5_000, 'agent SUBACK');
    exchange = new Exchange(agent, app);
    await exchange.roundTrip();
    exchange.start();
    await waitUntil(() => exchange.roundTrips >= 1, 5_000, 'the exchange loop completed a round trip');
    baselineDescriptors = await openDescriptors();
  });

  after(async () => {
    await exchange?.stop();
    for (const socket of openSockets) socket.destroy();
    await Promise.all(clients.map(endClient));
    if (server) {
      await server.stop('SIGTERM', { timeoutMs: 5_000 }).catch(() => server.kill9());
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
  });

  test('random bytes, an HTTP request and a plaintext MQTT CONNECT on the TLS port are dropped promptly', { timeout: 30_000 }, async () => {
    const mark = exchange.mark();
    const payloads: { name: string; bytes: Buffer }[] = [];
    for (let i = 0; i < 10; i++) {
      const bytes = randomBytes(1024 + i * 700);
      bytes[0] = bytes[0]! & 0x0f; // never a TLS record type (20-24): nothing a TLS server can wait for
      payloads.push({ name: `random bytes #${i}`, bytes });
    }
    for (let i = 0; i < 10; i++) {
      // A TLS handshake record holding a ClientHello of the right length, filled with garbage.
      const body = randomBytes(200 + i * 50);
      body[0] = 0x01;
      body.writeUIntBE(body.length - 4, 1, 3);
      const record = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, body.length >> 8, body.length & 0xff]), body]);
      payloads.push({ name: `garbage ClientHello #${i}`, bytes: record });
    }
    payloads.push({ name: 'an HTTP request', bytes: Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n') });
    payloads.push({ name: 'a plaintext MQTT CONNECT', bytes: connectPacket({ clientId: AGENT_ID }) });

    const outcomes = await Promise.all(payloads.map(async ({ name, bytes }) => {
      const socket = await openTcp();
      const sent = Date.now();
      socket.write(bytes);
      return { name, closedAfterMs: await closedWithin(socket, PROMPT_CLOSE_MS, sent) };
    }));
    const stillOpen = outcomes.filter((outcome) => outcome.closedAfterMs === undefined).map((outcome) => outcome.name);
    assert.deepEqual(stillOpen, [], `still open ${PROMPT_CLOSE_MS} ms after sending`);
    await exchange.assertHealthySince(mark, 'the random bytes');
  });

  test('malformed MQTT right after a valid TLS handshake: every connection is closed promptly, none is accepted', { timeout: 30_000 }, async () => {
    const mark = exchange.mark();
    const malformed = await agentCertificate('malformed');
    const clientId = `${TENANT}_malformed`;
    const cases: { name: string; bytes: Buffer }[] = [
      { name: 'protocol name "MQTX"', bytes: connectPacket({ clientId, protocolName: 'MQTX' }) },
      { name: 'protocol level 9', bytes: connectPacket({ clientId, level: 9 }) },
      { name: 'reserved bits set in the CONNECT fixed header (0x1F)', bytes: connectPacket({ clientId, firstByte: 0x1f }) },
      { name: 'reserved connect flag (bit 0) set', bytes: connectPacket({ clientId, connectFlags: 0x03 }) },
      { name: 'a remaining length of 5 bytes', bytes: Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]) },
      { name: 'a PUBLISH as the first packet (MQTT-3.1.0-1)', bytes: publishPacket(`tc/${TENANT}/${clientId}/o/early`, 'before CONNECT') },
      { name: 'a CONNECT whose remaining length is shorter than its content', bytes: Buffer.from([0x10, 0x03, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02]) },
    ];
    const outcomes = await Promise.all(cases.map(async ({ name, bytes }) => {
      const socket = await openTls(malformed);
      const log = received(socket);
      const sent = Date.now();
      socket.write(bytes);
      const closedAfterMs = await closedWithin(socket, PROMPT_CLOSE_MS, sent);
      return { name, closedAfterMs, answer: log.bytes() };
    }));
    for (const { name, closedAfterMs, answer } of outcomes) {
      assert.notEqual(closedAfterMs, undefined, `${name}: the connection is still open ${PROMPT_CLOSE_MS} ms later`);
      assert.ok(!answer.subarray(0, 4).equals(CONNACK_ACCEPTED), `${name}: answered CONNACK 0 (accepted)`);
    }
    await exchange.assertHealthySince(mark, 'the malformed CONNECTs');
  });

  test('malformed MQTT after an accepted CONNECT closes that connection promptly', { timeout: 30_000 }, async () => {
    const mark = exchange.mark();
    const malformed = await agentCertificate('malformed-2');
    const clientId = `${TENANT}_malformed-2`;
    const subscribeBody = Buffer.concat([Buffer.from([0x00, 0x01]), mqttField(`tc/${TENANT}/${clientId}/i/#`), Buffer.from([0x01])]);
    const cases: { name: string; bytes: Buffer }[] = [
      { name: 'SUBSCRIBE with reserved flags 0000 instead of 0010', bytes: mqttPacket(0x80, subscribeBody) },
      { name: 'a remaining length of 5 bytes', bytes: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]) },
      { name: 'PUBLISH with both QoS bits set', bytes: mqttPacket(0x36, Buffer.concat([mqttField(`tc/${TENANT}/${clientId}/o/x`), Buffer.from([0x00, 0x01]), Buffer.from('x')])) },
      { name: 'a second CONNECT', bytes: connectPacket({ clientId }) },
      { name: 'a packet of reserved type 0', bytes: Buffer.from([0x00, 0x00]) },
      { name: 'a packet of reserved type 15', bytes: Buffer.from([0xf0, 0x00]) },
    ];
    // One at a time: they share the client id (a new connection would take over the last).
    for (const { name, bytes } of cases) {
      const { socket } = await openConnectedTls(malformed, clientId);
      const sent = Date.now();
      socket.write(bytes);
      assert.notEqual(await closedWithin(socket, PROMPT_CLOSE_MS, sent), undefined, `${name}: the connection is still open ${PROMPT_CLOSE_MS} ms later`);
    }
    await exchange.assertHealthySince(mark, 'the malformed packets after CONNECT');
  });

  test('a PUBLISH or CONNECT claiming 256 MiB is refused at its length field; the broker\'s RSS does not grow', { timeout: 60_000 }, async (t) => {
    const mark = exchange.mark();
    const rssBefore = await procStatus(server.process.pid, 'VmRSS');
    const peakWasReset = await resetPeakRss(server.process.pid);
    const descriptorsBefore = await openDescriptors();
    const streamsPerKind = 6;
    const maxBytesEach = 48 * MIB; // without a limit the broker would buffer all of it: ~580 MB in total

    const publishers = await Promise.all(Array.from({ length: streamsPerKind }, async (_, i) => {
      const certificate = await agentCertificate(`big-${i}`);
      return (await openConnectedTls(certificate, `${TENANT}_big-${i}`)).socket;
    }));
    const unauthenticated = await Promise.all(Array.from({ length: streamsPerKind }, () => openTls()));
    const outcomes = await Promise.all([
      ...publishers.map((socket) => streamUntilClosed(socket, Buffer.concat([Buffer.from([0x30]), HUGE_LENGTH]), maxBytesEach)
        .then((outcome) => ({ kind: 'PUBLISH after CONNECT', ...outcome }))),
      ...unauthenticated.map((socket) => streamUntilClosed(socket, Buffer.concat([Buffer.from([0x10]), HUGE_LENGTH]), maxBytesEach)
        .then((outcome) => ({ kind: 'CONNECT before authentication', ...outcome }))),
    ]);

    // Measured once the broker has let go of the attack connections (their descriptors are closed).
    await waitUntil(async () => await openDescriptors() <= descriptorsBefore, 5_000, 'the broker closed the attack connections');
    const rssAfter = await procStatus(server.process.pid, 'VmRSS');
    const peakAfter = await procStatus(server.process.pid, 'VmHWM');
    const written = outcomes.reduce((sum, outcome) => sum + outcome.written, 0);
    t.diagnostic(`broker RSS ${(rssBefore / MIB).toFixed(0)} MiB -> ${(rssAfter / MIB).toFixed(0)} MiB, peak since the attack ${peakWasReset ? `${(peakAfter / MIB).toFixed(0)} MiB` : 'unknown (clear_refs not allowed)'}; ${(written / MIB).toFixed(1)} MiB written before the broker closed the ${outcomes.length} connections; slowest close ${Math.max(...outcomes.map((o) => o.closedAfterMs ?? Infinity))} ms`);

    for (const outcome of outcomes) {
      assert.notEqual(outcome.closedAfterMs, undefined, `${outcome.kind}: still open ${PROMPT_CLOSE_MS} ms after the 256 MiB length field (${outcome.written} bytes written)`);
      assert.ok(outcome.written < 16 * MIB, `${outcome.kind}: ${outcome.written} bytes were accepted before the close`);
    }
    assert.ok(rssAfter - rssBefore < 100 * MIB, `broker RSS grew by ${((rssAfter - rssBefore) / MIB).toFixed(0)} MiB`);
    if (peakWasReset) assert.ok(peakAfter - rssBefore < 100 * MIB, `broker peak RSS grew by ${((peakAfter - rssBefore) / MIB).toFixed(0)} MiB`);
    await exchange.assertHealthySince(mark, 'the 256 MiB packets');
  });

  describe('slow attackers, all at the same time', { concurrency: true }, () => {
    test('a partial ClientHello, then silence: the broker drops the connection within 15 s', { timeout: 30_000 }, async () => {
      const mark = exchange.mark();
      const hello = await captureClientHello();
      const socket = await openTcp();
      const sent = Date.now();
      socket.write(hello.subarray(0, Math.floor(hello.length / 2)));
      const closedAfterMs = await closedWithin(socket, DROP_BOUND_MS, sent);
      socket.destroy();
      await exchange.assertHealthySince(mark, 'the stalled handshake');
      assert.notEqual(closedAfterMs, undefined,
        `a client that sent ${Math.floor(hello.length / 2)} of ${hello.length} ClientHello bytes is still connected after ${DROP_BOUND_MS} ms (handshake timeout: 10 s)`);
    });

    test('a ClientHello trickled one byte every 2 s: the broker drops the connection within 15 s', { timeout: 30_000 }, async () => {
      const mark = exchange.mark();
      const hello = await captureClientHello();
      const socket = await openTcp();
      const started = Date.now();
      let sent = 0;
      const trickle = setInterval(() => {
        if (!isClosed(socket) && sent < hello.length) socket.write(hello.subarray(sent, ++sent));
      }, 2_000);
      try {
        const closedAfterMs = await closedWithin(socket, DROP_BOUND_MS, started);
        await exchange.assertHealthySince(mark, 'the trickled handshake');
        assert.notEqual(closedAfterMs, undefined,
          `a client that sends one ClientHello byte every 2 s (${sent} so far) is still connected after ${DROP_BOUND_MS} ms (handshake timeout: 10 s)`);
      } finally {
        clearInterval(trickle);
        socket.destroy();
      }
    });

    test('300 half-open TCP connections', { timeout: 40_000 }, async (t) => {
      const mark = exchange.mark();
      const sockets: Socket[] = [];
      const started = Date.now();
      let survivor: Awaited<ReturnType<typeof connectAgent>> | undefined;
      try {
        for (let batch = 0; batch < 6; batch++) {
          sockets.push(...await Promise.all(Array.from({ length: 50 }, openTcp)));
          // An agent accepted between them in accept order: the sweep of handshake deadlines
          // (one accept-ordered queue) must not take a connection whose handshake finished.
          if (batch === 2) survivor = await connectAgent(await agentCertificate('probe-survivor'), `${TENANT}_probe-survivor`);
        }

        await t.test('while they are held, a new agent connects and the agent and application keep talking', async () => {
          const probe = await connectAgent(await agentCertificate('probe-half-open'), `${TENANT}_probe-half-open`);
          await withTimeout(probe.publishAsync(`tc/${TENANT}/${TENANT}_probe-half-open/o/hello`, 'hi', { qos: 1 }), 5_000, 'probe PUBACK');
          await endClient(probe);
          await exchange.assertHealthySince(mark, 'the 300 half-open connections');
          t.diagnostic(`300 idle TCP connections held; the broker process holds ${await openDescriptors()} descriptors (${baselineDescriptors} before)`);
        });

        await t.test('the broker drops them within 15 s (handshake timeout 10 s)', async () => {
          const closed = await Promise.all(sockets.map((socket) => closedWithin(socket, DROP_BOUND_MS, started)));
          const open = closed.filter((ms) => ms === undefined).length;
          assert.equal(open, 0, `${open} of 300 idle TCP connections are still open ${DROP_BOUND_MS} ms after connecting (handshake timeout: 10 s)`);
          assert.ok(survivor?.connected, 'the agent accepted among them is still connected after their deadlines');
          await withTimeout(survivor!.publishAsync(`tc/${TENANT}/${TENANT}_probe-survivor/o/hello`, 'still here', { qos: 1 }), 5_000, 'survivor PUBACK');
        });
      } finally {
        for (const socket of sockets) socket.destroy();
        if (survivor) await endClient(survivor);
      }
    });

    test('a valid agent certificate but no CONNECT (or half a CONNECT): the broker drops the connection within 15 s', { timeout: 30_000 }, async () => {
      const mark = exchange.mark();
      const idle = await agentCertificate('idle-1');
      const started = Date.now();
      const silent = await openTls(idle);
      const withoutCertificate = await openTls();
      const halfConnect = await openTls(idle);
      const connect = connectPacket({ clientId: `${TENANT}_idle-1` });
      halfConnect.write(connect.subarray(0, Math.floor(connect.length / 2)));

      const [silentMs, withoutCertificateMs, halfConnectMs] = await Promise.all([silent, withoutCertificate, halfConnect]
        .map((socket) => closedWithin(socket, DROP_BOUND_MS, started)));
      await exchange.assertHealthySince(mark, 'the connections without CONNECT');
      assert.notEqual(silentMs, undefined, `a TLS connection with an agent certificate and no CONNECT is still open after ${DROP_BOUND_MS} ms`);
      assert.notEqual(withoutCertificateMs, undefined, `a TLS connection without certificate and no CONNECT is still open after ${DROP_BOUND_MS} ms`);
      assert.notEqual(halfConnectMs, undefined, `a TLS connection that sent half a CONNECT is still open after ${DROP_BOUND_MS} ms`);
      assert.ok(silentMs! >= 5_000, `dropped after ${silentMs} ms: the CONNECT timeout should give a slow client some seconds`);
    });
  });

  test('afterwards the original agent still publishes, the application still receives, a new agent connects, and no descriptor leaked', { timeout: 30_000 }, async (t) => {
    for (const socket of openSockets) socket.destroy();
    const mark = exchange.mark();
    await waitUntil(() => exchange.roundTrips >= mark.roundTrips + 3 || exchange.failures.length > mark.failures, 10_000, 'three more round trips');
    await exchange.assertHealthySince(mark, 'the whole file');
    assert.deepEqual(exchange.failures, [], 'no round trip failed at any time');
    t.diagnostic(`${exchange.roundTrips} round trips in total, the slowest took ${exchange.slowestMs} ms`);

    const late = await connectAgent(await agentCertificate('late-1'), `${TENANT}_late-1`);
    const topic = `tc/${TENANT}/${TENANT}_late-1/o/hello`;
    const arrived = nextMessage(exchange.app, topic, 'late hello', 5_000);
    await withTimeout(late.publishAsync(topic, 'late hello', { qos: 1 }), 5_000, 'late agent PUBACK');
    await arrived;
    await endClient(late);

    const agents = await api('/agents');
    assert.equal(agents.status, 200);
    assert.equal(agents.body.find((agent: any) => agent.clientId === AGENT_ID)?.online, true, 'the original agent is still online');

    // Every connection this file opened is closed on its side; the broker must have let go too.
    let descriptors = await openDescriptors();
    await waitUntil(async () => (descriptors = await openDescriptors()) <= baselineDescriptors + 5, 5_000, 'the broker let go').catch(() => undefined);
    assert.ok(descriptors <= baselineDescriptors + 5, `the broker holds ${descriptors} descriptors, ${baselineDescriptors} before the attacks`);
  });
});
