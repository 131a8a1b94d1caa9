import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { proofFor, registrationCodeOf, uploadCaOk, verify } from './api-helpers.ts';
import type { TestServer } from './start-test-server.ts';
import { createCa, issueCertificate, type IssueOptions, type TestCertificate, type TestCertificateOptions } from './test-pki.ts';
import { waitUntil } from './wait-until.ts';
import { withTimeout } from './with-timeout.ts';

// Shared helpers for the broker tests under test/broker: real clients (MQTT.js, Debian's
// mosquitto clients, python3 paho) against a real in-process server. Every wait is bounded.

export { withTimeout };

/** A pause for pacing or sampling loops; a test waiting for an outcome waits for its event instead. */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const sha256Hex = (der: Buffer): string => createHash('sha256').update(der).digest('hex');

/** Normalises a fingerprint written as hex with or without colons, in any case. */
export const normaliseFingerprint = (value: unknown): string => String(value).replaceAll(':', '').toLowerCase();

// ---- resources: everything a test opens is closed in `after` ----------------------------------

export class Resources {
  readonly #closers: (() => Promise<void> | void)[] = [];

  add(close: () => Promise<void> | void): void {
    this.#closers.push(close);
  }

  client<T extends MqttClient>(client: T): T {
    this.add(() => endClient(client));
    return client;
  }

  process<T extends RunningProcess>(process: T): T {
    this.add(() => process.kill());
    return process;
  }

  async tempDir(prefix = 'broker'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `trustgate-${prefix}-`));
    this.add(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
    return dir;
  }

  async closeAll(): Promise<void> {
    const closers = this.#closers.splice(0).reverse();
    for (const close of closers) {
      try {
        await withTimeout(Promise.resolve(close()), 5_000, 'closing a test resource');
      } catch {
        // best effort: one stuck resource must not keep the others open
      }
    }
  }
}

/** Ends a client at once (no DISCONNECT handshake wait), bounded. */
export const endClient = (client: MqttClient): Promise<void> =>
  withTimeout(new Promise<void>((resolve) => client.end(true, {}, () => resolve())), 2_000, 'ending an MQTT client').catch(() => undefined);

// ---- CA registration through the API ---------------------------------------------------------

export interface VerifiedCa {
  readonly ca: TestCertificate;
  readonly id: string;
}

/** Uploads a CA PEM, fetches its registration code, verifies it with the proof `makeProof` returns. */
export const registerAndVerifyCaPem = async (
  server: TestServer, tenant: string, caPem: string, makeProof: (registrationCode: string) => Promise<string>,
): Promise<string> => {
  const resource = await uploadCaOk(server, tenant, { certificatePem: caPem });
  const code = await registrationCodeOf(server, tenant, resource.id);
  const answer = await verify(server, tenant, resource.id, await makeProof(code));
  assert.equal(answer.status, 200, `verify: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.isVerified, true);
  return resource.id;
};

/** A fresh test CA, registered and verified in `tenant` (the proof is an X.509 v1, as openssl makes it). */
export const registerVerifiedCa = async (server: TestServer, tenant: string, options: TestCertificateOptions = {}): Promise<VerifiedCa> => {
  const ca = await createCa({ subject: `CN=${tenant}-ca`, ...options });
  const id = await registerAndVerifyCaPem(server, tenant, ca.certificatePem,
    async (code) => (await proofFor(ca, code, { version: 1 })).certificatePem);
  return { ca, id };
};

/** An agent certificate with CN = `commonName`, issued by `ca`. */
export const issueAgent = (ca: TestCertificate, commonName: string, options: IssueOptions = {}): Promise<TestCertificate> =>
  issueCertificate(ca, { subject: `CN=${commonName}`, ...options });

// ---- MQTT.js clients -------------------------------------------------------------------------

export const CONNECT_BOUND_MS = 5_000;

const baseOptions = (server: TestServer): IClientOptions => ({
  ca: server.brokerRootCaPem,
  reconnectPeriod: 0,
  connectTimeout: CONNECT_BOUND_MS,
  protocolVersion: 4,
});

export const brokerUrl = (server: TestServer): string => `mqtts://localhost:${server.mqttPort}`;

/**
 * mqtt.connect, resolved on CONNACK 0, rejected with the refusal (its `code` = the CONNACK code) or
 * a closed connection, bounded. `beforeConnect` sees the client before any packet arrives (to
 * catch messages queued for a persistent session, which may follow the CONNACK at once).
 */
export const connectClient = (url: string, options: IClientOptions, what: string, beforeConnect?: (client: MqttClient) => void): Promise<MqttClient> => {
  const client = mqtt.connect(url, options);
  beforeConnect?.(client);
  const connected = new Promise<MqttClient>((resolve, reject) => {
    const cleanUp = () => {
      client.off('connect', onConnect);
      client.off('error', onError);
      client.off('close', onClose);
    };
    const onConnect = () => {
      cleanUp();
      // Later errors (a reset after a refused publish) surface as 'close'; unhandled, they would throw.
      client.on('error', () => undefined);
      resolve(client);
    };
    const onError = (error: Error) => {
      cleanUp();
      client.end(true);
      reject(error);
    };
    const onClose = () => {
      cleanUp();
      reject(new Error(`${what}: the connection closed before a CONNACK`));
    };
    client.once('connect', onConnect);
    client.once('error', onError);
    client.once('close', onClose);
  });
  return withTimeout(connected, CONNECT_BOUND_MS + 1_000, what).catch((error: unknown) => {
    client.end(true);
    throw error;
  });
};

/** Connects as an agent over mutual TLS (`certificatePem` may carry the CA appended). */
export const connectAgent = (
  server: TestServer,
  agent: { certificatePem: string; privateKeyPem: string },
  clientId: string,
  options: IClientOptions = {},
  beforeConnect?: (client: MqttClient) => void,
): Promise<MqttClient> =>
  connectClient(brokerUrl(server), {
    ...baseOptions(server), clientId, cert: agent.certificatePem, key: agent.privateKeyPem, ...options,
  }, `agent ${clientId} connecting`, beforeConnect);

/** Connects as a tenant application: no client certificate, user name = tenant, token as password. */
export const connectApplication = async (
  server: TestServer,
  tenant: string,
  options: IClientOptions & { scopes?: string[] } = {},
  beforeConnect?: (client: MqttClient) => void,
): Promise<MqttClient> => {
  const { scopes, ...rest } = options;
  const password = await server.token(tenant, scopes ? { scopes } : {});
  return connectClient(brokerUrl(server), {
    ...baseOptions(server), clientId: `${tenant}_app-${Math.random().toString(16).slice(2, 10)}`, username: tenant, password, ...rest,
  }, `application of ${tenant} connecting`, beforeConnect);
};

/** The CONNACK return code a refused connection got (fails if it was accepted). */
export const refusalCodeOf = async (connecting: Promise<MqttClient>, resources: Resources): Promise<number | undefined> => {
  let client: MqttClient;
  try {
    client = await connecting;
  } catch (error) {
    return (error as { code?: number }).code;
  }
  resources.client(client);
  assert.fail(`the connection of ${client.options.clientId} was accepted but must be refused`);
};

/** Resolves true once the client's connection closes, false if it is still open after `ms`. */
export const closesWithin = (client: MqttClient, ms: number): Promise<boolean> => {
  if (!client.connected && (client.disconnected || client.disconnecting || client.stream?.destroyed)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('close', onClose);
      resolve(false);
    }, ms);
    const onClose = () => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('close', onClose);
  });
};

/** The SUBACK return codes (0, 1, 2 or 0x80 = 128) for `subscriptions`, in order, bounded. */
export const subackCodes = (client: MqttClient, subscriptions: Record<string, { qos: 0 | 1 | 2 }>, ms = 3_000): Promise<number[]> =>
  withTimeout(new Promise<number[]>((resolve, reject) => {
    client.subscribe(subscriptions, (error, _granted, packet) => {
      if (packet?.granted) return resolve(packet.granted.map(Number));
      reject(error ?? new Error('SUBACK without return codes'));
    });
  }), ms, `SUBACK for ${Object.keys(subscriptions).join(', ')}`);

export interface ReceivedMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
}

/** Records every message a client receives; `next` waits (bounded) for one on a topic. */
export class MessageLog {
  readonly messages: ReceivedMessage[] = [];
  readonly #waiters = new Set<{ matches: (message: ReceivedMessage) => boolean; resolve: (message: ReceivedMessage) => void }>();

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const message = { topic, payload, qos: packet.qos };
      this.messages.push(message);
      for (const waiter of this.#waiters) {
        if (waiter.matches(message)) {
          this.#waiters.delete(waiter);
          waiter.resolve(message);
        }
      }
    });
  }

  on(topic: string): ReceivedMessage[] {
    return this.messages.filter((message) => message.topic === topic);
  }

  /** Messages whose topic starts with `prefix`. */
  under(prefix: string): ReceivedMessage[] {
    return this.messages.filter((message) => message.topic.startsWith(prefix));
  }

  next(topic: string, ms = 3_000, payload?: string): Promise<ReceivedMessage> {
    const matches = (message: ReceivedMessage) => message.topic === topic && (payload === undefined || message.payload.toString() === payload);
    const seen = this.messages.find(matches);
    if (seen) return Promise.resolve(seen);
    let waiter!: { matches: typeof matches; resolve: (message: ReceivedMessage) => void };
    const arrived = new Promise<ReceivedMessage>((resolve) => {
      waiter = { matches, resolve };
      this.#waiters.add(waiter);
    });
    return withTimeout(arrived, ms, `a message on ${topic}${payload === undefined ? '' : ` with payload ${payload}`}`)
      .finally(() => this.#waiters.delete(waiter));
  }
}

/**
 * A PINGREQ answered by a PINGRESP, bounded: the broker still serves this connection, and has
 * handled every packet the client sent before and saw answered (aedes handles one read of a
 * connection at a time, so a packet sent after an answer is handled after the packet answered).
 */
export const pingRoundTrip = async (client: MqttClient, ms = 3_000): Promise<void> => {
  let cleanUp = (): void => undefined;
  const answered = new Promise<void>((resolve, reject) => {
    const onPacket = (packet: { cmd: string }) => {
      if (packet.cmd === 'pingresp') resolve();
    };
    const onClose = () => reject(new Error(`${client.options.clientId}: the connection closed before a PINGRESP`));
    client.on('packetreceive', onPacket);
    client.once('close', onClose);
    cleanUp = () => {
      client.off('packetreceive', onPacket);
      client.off('close', onClose);
    };
  });
  try {
    client.sendPing();
    await withTimeout(answered, ms, `a PINGRESP for ${client.options.clientId}`);
  } finally {
    cleanUp();
  }
};

const CONTROL_PREFIX = 'positive-control ';
let controlCount = 0;

/** True for the markers `controlArrives` publishes (a test listing all a client got leaves them out). */
export const isControl = (message: ReceivedMessage): boolean => message.payload.toString().startsWith(CONTROL_PREFIX);

/**
 * The positive control of a "nothing arrived" check: publishes a fresh marker (QoS 1) from
 * `publisher` on `topic` and waits until every log in `logs` has it. The broker hands messages
 * to a subscriber in the order it handled them, so whatever an earlier action (already handled:
 * answered, refused or disconnected) sent towards those subscribers has arrived before the
 * marker. A "nothing arrived" assertion is made after this, never after a sleep.
 */
export const controlArrives = async (publisher: MqttClient, topic: string, logs: readonly MessageLog[], ms = 5_000): Promise<void> => {
  const payload = `${CONTROL_PREFIX}${++controlCount}`;
  await withTimeout(publisher.publishAsync(topic, payload, { qos: 1 }), ms, `the PUBACK of ${payload} on ${topic}`);
  await Promise.all(logs.map((log) => log.next(topic, ms, payload)));
};

// ---- the agents API --------------------------------------------------------------------------

export const listAgents = async (server: TestServer, tenant: string): Promise<any[]> => {
  const answer = await server.api(tenant, '/agents');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.ok(Array.isArray(answer.body));
  return answer.body;
};

/** Polls GET /agents until the agent with `clientId` satisfies `condition` (bounded); returns it. */
export const waitForAgent = async (
  server: TestServer, tenant: string, clientId: string, condition: (agent: any) => boolean, ms = 5_000,
): Promise<any> => {
  let last: any;
  await waitUntil(async () => {
    last = (await listAgents(server, tenant)).find((agent) => agent.clientId === clientId);
    return last !== undefined && condition(last);
  }, ms, `agent ${clientId} in the expected state`)
    .catch(() => assert.fail(`agent ${clientId} did not reach the expected state within ${ms} ms; last seen: ${JSON.stringify(last)}`));
  return last;
};

// ---- external programs (mosquitto clients, python3 paho, openssl) ----------------------------

export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion, killed after `timeoutMs`; never rejects on a non-zero exit. */
export const runProcess = (file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<ProcessResult> =>
  new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 10_000, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code === 'string') return reject(error);
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
          signal: (error?.signal as NodeJS.Signals | undefined) ?? null,
          stdout,
          stderr,
        });
      });
  });

export const runProcessOk = async (file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<ProcessResult> => {
  const result = await runProcess(file, args, options);
  assert.equal(result.code, 0, `${file} ${args.join(' ')} exited with ${result.code ?? result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
};

/** A long-running program whose output can be awaited line by line. */
export class RunningProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #listeners = new Set<() => void>();
  readonly #killTimer: NodeJS.Timeout;

  constructor(file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number; env?: Readonly<Record<string, string>> } = {}) {
    this.child = spawn(file, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(options.env ? { env: { ...process.env, ...options.env } } : {}) });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.#notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.#notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.#exit = { code, signal };
        clearTimeout(this.#killTimer);
        this.#notify();
        resolve(this.#exit);
      });
      this.child.once('error', (error) => {
        this.stderr += String(error);
        this.#exit = { code: null, signal: null };
        clearTimeout(this.#killTimer);
        this.#notify();
        resolve(this.#exit);
      });
    });
    // A hard bound: no external program outlives its test.
    this.#killTimer = setTimeout(() => this.child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
  }

  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Waits (bounded) until stdout matches `pattern`; fails with the output so far. */
  waitForOutput(pattern: RegExp, ms = 5_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = this.stdout.match(pattern);
        if (match) {
          done();
          resolve(match);
        } else if (this.#exit) {
          done();
          reject(new Error(`process exited (${JSON.stringify(this.#exit)}) before printing ${pattern}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${pattern} within ${ms} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }

  async waitForExit(ms = 5_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return withTimeout(this.exited, ms, `exit of the process\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
  }

  async kill(): Promise<void> {
    if (this.#exit) return;
    this.child.kill('SIGKILL');
    await withTimeout(this.exited, 2_000, 'killing a process').catch(() => undefined);
  }
}

/** Writes an agent's files for command-line clients: cert (optionally + CA), key and the broker root CA. */
export const writeAgentFiles = async (
  dir: string, name: string, server: TestServer, agent: { certificatePem: string; privateKeyPem: string }, options: { appendCa?: string } = {},
): Promise<{ cafile: string; cert: string; key: string }> => {
  const cafile = join(dir, 'broker-root-ca.pem');
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await writeFile(cafile, server.brokerRootCaPem);
  await writeFile(cert, options.appendCa ? `${agent.certificatePem.trimEnd()}\n${options.appendCa}` : agent.certificatePem);
  await writeFile(key, agent.privateKeyPem, { mode: 0o600 });
  return { cafile, cert, key };
};

/** mosquitto_pub / mosquitto_sub arguments for an agent. */
export const mosquittoAgentArgs = (server: TestServer, files: { cafile: string; cert: string; key: string }, clientId: string): string[] => [
  '-h', 'localhost', '-p', String(server.mqttPort), '-V', 'mqttv311',
  '--cafile', files.cafile, '--cert', files.cert, '--key', files.key, '-i', clientId,
];

export const PYTHON = '/usr/bin/python3';

/**
 * A paho-mqtt 1.6 agent: connects with its certificate, subscribes to `subscribeTo` (QoS 1), waits
 * for one message, answers it on `publishTo` (QoS 1, payload "reply:<message>") and disconnects.
 * Prints CONNACK <rc>, SUBACK <granted...>, MESSAGE <topic> <payload>, PUBACK <mid>, DISCONNECT <rc>.
 */
export const PAHO_AGENT_SCRIPT = `
import os, sys, threading
import paho.mqtt.client as mqtt
host, port, cafile, cert, key, client_id, subscribe_to, publish_to = sys.argv[1:9]
threading.Timer(12.0, lambda: os._exit(3)).start()
client = mqtt.Client(client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311)
client.tls_set(ca_certs=cafile, certfile=cert, keyfile=key)
def on_connect(c, userdata, flags, rc):
    print("CONNACK", rc, flush=True)
    if rc != 0:
        c.disconnect()
        return
    c.subscribe(subscribe_to, qos=1)
def on_subscribe(c, userdata, mid, granted):
    print("SUBACK", *granted, flush=True)
def on_message(c, userdata, message):
    print("MESSAGE", message.topic, message.payload.decode(), flush=True)
    c.publish(publish_to, b"reply:" + message.payload, qos=1)
def on_publish(c, userdata, mid):
    print("PUBACK", mid, flush=True)
    c.disconnect()
def on_disconnect(c, userdata, rc):
    print("DISCONNECT", rc, flush=True)
    os._exit(0 if rc == 0 else 4)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.on_publish = on_publish
client.on_disconnect = on_disconnect
client.connect(host, int(port), keepalive=30)
client.loop_forever(retry_first_connection=False)
`;
