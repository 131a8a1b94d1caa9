import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { connectClient, endClient, PYTHON, runProcess } from '../support/broker-helpers.ts';
import { assertOneLineFailure, cli, cliJson, cliOk } from '../support/run-cli.ts';
import { spawnServer, type SpawnedServer } from '../support/spawn-server.ts';
import { createCsr } from '../support/test-pki.ts';

// Issue 15 part 4, end to end: a real server process; an agent whose certificate the managed CA
// issued renews it with a new key — over MQTT with paho (python), and with `trustgate agent renew`
// over the API — and reconnects with the new certificate as the same agent, while the old one
// still connects too.

/** paho-mqtt: connects with its certificate, asks for a renewal with the CSR in a file, writes the answer. */
const PAHO_RENEWAL_SCRIPT = `
import json, os, sys, threading
import paho.mqtt.client as mqtt
host, port, cafile, cert, key, client_id, tenant, csr_file, answer_file = sys.argv[1:10]
threading.Timer(15.0, lambda: os._exit(3)).start()
base = "tc/%s/%s/" % (tenant, client_id)
client = mqtt.Client(client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311)
client.tls_set(ca_certs=cafile, certfile=cert, keyfile=key)
def on_connect(c, userdata, flags, rc):
    print("CONNACK", rc, flush=True)
    if rc != 0:
        os._exit(2)
    c.subscribe(base + "i/cert_v1/cert", qos=1)
def on_subscribe(c, userdata, mid, granted):
    print("SUBACK", *granted, flush=True)
    c.publish(base + "o/cert_v1/csr", json.dumps({"id": "paho-1", "csr": open(csr_file).read()}), qos=1)
def on_message(c, userdata, message):
    open(answer_file, "w").write(message.payload.decode())
    print("ANSWER", flush=True)
    c.disconnect()
def on_disconnect(c, userdata, rc):
    os._exit(0 if rc == 0 else 4)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.on_disconnect = on_disconnect
client.connect(host, int(port), keepalive=30)
client.loop_forever(retry_first_connection=False)
`;

describe('an agent renews its certificate and reconnects with the new one (paho over MQTT, trustgate agent renew over the API)', { timeout: 180_000 }, () => {
  let root: string;
  let server: SpawnedServer;
  let env: Record<string, string>;
  let token: string;
  let brokerCaFile: string;
  const clients: MqttClient[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-renewal-'));
    server = await spawnServer({ dataDir: join(root, 'data'), startTimeoutMs: 60_000 });
    env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: join(root, 'data') };
    token = (await cliOk(['token', '--tenant', 'acme'], { env })).stdout.trim();
    brokerCaFile = join(root, 'broker-ca.pem');
    await writeFile(brokerCaFile, (await cliOk(['broker-ca'], { env })).stdout);
  });
  after(async () => {
    await Promise.all(clients.map(endClient));
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const api = async (path: string, init: { method?: string; body?: unknown } = {}): Promise<any> => {
    const response = await fetch(`${server.apiUrl}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${token}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  /** POST /agentCertificates, written as <dir>/<name>.pem and .key. */
  const issueToDisk = async (name: string): Promise<{ issued: any; cert: string; key: string }> => {
    const { status, body } = await api('/agentCertificates', { body: { name } });
    assert.equal(status, 201);
    const cert = join(root, `${name}.pem`);
    const key = join(root, `${name}.key`);
    await writeFile(cert, body.publicKey);
    await writeFile(key, body.privateKey, { mode: 0o600 });
    return { issued: body, cert, key };
  };

  const connect = async (cert: string, key: string, clientId: string): Promise<MqttClient> => {
    const client = await connectClient(`mqtts://localhost:${server.mqttPort}`, {
      ca: await readFile(brokerCaFile), cert: await readFile(cert), key: await readFile(key), clientId, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5_000,
    }, `agent ${clientId}`);
    clients.push(client);
    return client;
  };

  const agentOf = async (clientId: string): Promise<any> => ((await api('/agents')).body as any[]).find((agent) => agent.clientId === clientId);

  /** Connects, waits until the agent record shows this certificate, disconnects: the agent's id. */
  const connectedAgentId = async (cert: string, key: string, clientId: string): Promise<string> => {
    const fingerprint = new X509Certificate(await readFile(cert)).fingerprint256.replaceAll(':', '').toLowerCase();
    const client = await connect(cert, key, clientId);
    const deadline = Date.now() + 10_000;
    let agent = await agentOf(clientId);
    while (agent?.certificateFingerprint !== fingerprint) {
      assert.ok(Date.now() < deadline, `the agent record shows ${fingerprint}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      agent = await agentOf(clientId);
    }
    await endClient(client);
    return agent.id;
  };

  test('paho: renews over MQTT with a new key, reconnects with the new certificate as the same agent; the old certificate still connects', async () => {
    const { issued, cert, key } = await issueToDisk('paho-1');
    const agentId = await connectedAgentId(cert, key, issued.clientId);
    const csr = await createCsr({ subject: 'CN=paho-1' });
    const csrFile = join(root, 'paho-1.csr');
    const answerFile = join(root, 'paho-1.answer.json');
    await writeFile(csrFile, csr.csrPem);
    const run = await runProcess(PYTHON, ['-c', PAHO_RENEWAL_SCRIPT, 'localhost', String(server.mqttPort), brokerCaFile, cert, key, issued.clientId, 'acme', csrFile, answerFile], { timeoutMs: 20_000 });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /CONNACK 0\nSUBACK 1\nANSWER/);
    const answer = JSON.parse(await readFile(answerFile, 'utf8'));
    assert.equal(answer.error, undefined, JSON.stringify(answer));
    assert.equal(answer.id, 'paho-1');

    const newCert = join(root, 'paho-1.new.pem');
    const newKey = join(root, 'paho-1.new.key');
    await writeFile(newCert, answer.certificate);
    await writeFile(newKey, csr.privateKeyPem, { mode: 0o600 });
    assert.equal(await connectedAgentId(newCert, newKey, issued.clientId), agentId, 'the new certificate is the same agent');
    assert.equal(await connectedAgentId(cert, key, issued.clientId), agentId, 'the old certificate still connects');
    const listed = ((await api('/agentCertificates')).body as any[]).filter((c) => c.clientId === issued.clientId);
    assert.deepEqual(listed.map((c) => [c.status, c.agentId]), [['READY', agentId], ['READY', agentId]]);
  });

  test('trustgate agent renew --new-key: the new certificate and key next to the old, connecting as the same agent; the old one connects; a second renewal within the hour fails in one line', async () => {
    const { issued, cert, key } = await issueToDisk('cli-1');
    const agentId = await connectedAgentId(cert, key, issued.clientId);
    const result = await cliJson(['agent', 'renew', '--cert', cert, '--new-key', '--tenant', 'acme'], { env });
    assert.equal(result.renewalOf, issued.id);
    assert.equal(result.clientId, issued.clientId);
    assert.deepEqual((await readdir(root)).filter((f) => f.startsWith('cli-1')).sort(),
      ['cli-1.key', 'cli-1.pem', 'cli-1.renewed-chain.pem', 'cli-1.renewed.key', 'cli-1.renewed.pem']);
    assert.equal((await stat(join(root, 'cli-1.renewed.key'))).mode & 0o777, 0o600);
    assert.notEqual(await readFile(join(root, 'cli-1.renewed.key'), 'utf8'), await readFile(key, 'utf8'), 'a new key');
    assert.equal(await connectedAgentId(join(root, 'cli-1.renewed.pem'), join(root, 'cli-1.renewed.key'), issued.clientId), agentId);
    assert.equal(await connectedAgentId(cert, key, issued.clientId), agentId, 'the old certificate still connects');

    assertOneLineFailure(await cli(['agent', 'renew', '--cert', cert, '--tenant', 'acme', '--force'], { env }), 75, /renewal\.tooSoon/);
  });

  test('trustgate agent renew with the key on disk (same key); refused for a certificate that is no managed-CA certificate of the tenant', async () => {
    const { issued, cert, key } = await issueToDisk('cli-2');
    const human = await cliOk(['agent', 'renew', '--cert', cert, '--tenant', 'acme'], { env });
    assert.match(human.stdout, /renewed agent certificate "cli-2" \(same key/);
    const renewed = new X509Certificate(await readFile(join(root, 'cli-2.renewed.pem')));
    assert.ok(renewed.checkPrivateKey(createPrivateKey(await readFile(key))), 'the key on disk is certified');
    assert.equal(await connectedAgentId(join(root, 'cli-2.renewed.pem'), key, issued.clientId), await connectedAgentId(cert, key, issued.clientId));
    // Another tenant does not know it.
    assertOneLineFailure(await cli(['agent', 'renew', '--cert', cert, '--tenant', 'other', '--force'], { env }), 67, /no agent certificate of this tenant/);
  });
});
