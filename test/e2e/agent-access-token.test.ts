import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { PYTHON, runProcess } from '../support/broker-helpers.ts';
import { assertOneLineFailure, cli, cliJson, cliOk } from '../support/run-cli.ts';
import { spawnServer, type SpawnedServer } from '../support/spawn-server.ts';
import { waitUntil } from '../support/wait-until.ts';

// Issue 19 part 1, end to end: a real server process; an agent written with Debian's paho asks
// for an access token exactly as the sample agent (mindsphere/mindconnect-mqtt, MindConnectClient.py)
// does — clean_session False, i/agm_v3/tr subscribed with QoS 1, {"id": <uuid>} published with
// QoS 0 — and the token verifies against /.well-known/jwks.json. After `trustgate agent-token-key
// rotate` both keys are published, the old token still verifies, new tokens carry the new key.

/** paho-mqtt: the sample agent's token request; writes the answer to a file. */
const PAHO_TOKEN_SCRIPT = `
import json, os, sys, threading, uuid
import paho.mqtt.client as mqtt
host, port, cafile, cert, key, client_id, tenant, answer_file = sys.argv[1:9]
threading.Timer(15.0, lambda: os._exit(3)).start()
base = "tc/%s/%s/" % (tenant, client_id)
request_id = str(uuid.uuid4())
client = mqtt.Client(client_id, clean_session=False)
client.tls_set(ca_certs=cafile, certfile=cert, keyfile=key)
def on_connect(c, userdata, flags, rc):
    print("CONNACK", rc, flush=True)
    if rc != 0:
        os._exit(2)
    c.subscribe([(base + "i/agm_v3/tr", 1)])
def on_subscribe(c, userdata, mid, granted):
    print("SUBACK", *granted, flush=True)
    c.publish(base + "o/agm_v3/t", json.dumps({"id": request_id}), qos=0)
def on_message(c, userdata, message):
    answer = json.loads(str(message.payload, "utf-8"))
    answer["sentId"] = request_id
    # What the sample agent reads:
    print("TOKEN", len(answer["data"]["access_token"]) > 0, flush=True)
    open(answer_file, "w").write(json.dumps(answer))
    c.disconnect()
def on_disconnect(c, userdata, rc):
    os._exit(0 if rc == 0 else 4)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.on_disconnect = on_disconnect
client.connect(host, int(port), keepalive=60)
client.loop_forever(retry_first_connection=False)
`;

describe('an agent gets an access token over MQTT (paho, as the sample agent) that verifies with the JWKS, also across a key rotation', { timeout: 180_000 }, () => {
  let root: string;
  let server: SpawnedServer;
  let env: Record<string, string>;
  let token: string;
  let brokerCaFile: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-agent-token-'));
    server = await spawnServer({ dataDir: join(root, 'data'), startTimeoutMs: 60_000 });
    env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: join(root, 'data') };
    token = (await cliOk(['token', '--tenant', 'acme'], { env })).stdout.trim();
    brokerCaFile = join(root, 'broker-ca.pem');
    await writeFile(brokerCaFile, (await cliOk(['broker-ca'], { env })).stdout);
  });
  after(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const jwks = async (): Promise<JSONWebKeySet> => (await fetch(`${server.url}/.well-known/jwks.json`)).json() as Promise<JSONWebKeySet>;

  /** A managed-CA agent on disk, then paho's token request: the answer. */
  const pahoToken = async (name: string): Promise<{ answer: any; clientId: string }> => {
    const issued = await fetch(`${server.apiUrl}/agentCertificates`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }),
    });
    assert.equal(issued.status, 201);
    const body = await issued.json() as any;
    const cert = join(root, `${name}.pem`);
    const key = join(root, `${name}.key`);
    await writeFile(cert, body.publicKey);
    await writeFile(key, body.privateKey, { mode: 0o600 });
    const answerFile = join(root, `${name}.answer.json`);
    const run = await runProcess(PYTHON, ['-c', PAHO_TOKEN_SCRIPT, 'localhost', String(server.mqttPort), brokerCaFile, cert, key, body.clientId, 'acme', answerFile], { timeoutMs: 20_000 });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /CONNACK 0\nSUBACK 1\nTOKEN True/);
    return { answer: JSON.parse(await readFile(answerFile, 'utf8')), clientId: body.clientId };
  };

  const verifyAgainstJwks = async (accessToken: string) => jwtVerify(accessToken, createLocalJWKSet(await jwks()), {
    issuer: 'urn:trustgate:agent-token-issuer', audience: 'urn:trustgate:agent', algorithms: ['ES256'],
  });

  test('paho (QoS 0 request, clean_session False): the answer echoes the id, the JWT verifies with the JWKS; after a rotation both keys are published, the old token still verifies, a new one carries the new key', async () => {
    const { answer, clientId } = await pahoToken('paho-token-1');
    assert.deepEqual([answer.id, answer.correlationId, answer.requestId], [answer.sentId, answer.sentId, answer.sentId]);
    assert.deepEqual([answer.data.token_type, answer.data.expires_in, answer.data.scope], ['Bearer', 3600, ['mdsp:core:DefaultAgent']]);
    const { payload } = await verifyAgainstJwks(answer.data.access_token);
    assert.deepEqual([payload.sub, payload.ten, payload.jti], [clientId, 'acme', answer.data.jti]);
    const firstKid = decodeProtectedHeader(answer.data.access_token).kid;
    // Never a key to trustgate's own API.
    const refused = await fetch(`${server.apiUrl}/agents`, { headers: { authorization: `Bearer ${answer.data.access_token}` } });
    assert.equal(refused.status, 401);

    const keysBefore = (await jwks()).keys.length;
    const rotated = await cliJson(['agent-token-key', 'rotate', '--activate-in', '0s', '--json'], { env });
    assert.equal(rotated.added.state, 'signing');
    const listed = await cliJson(['agent-token-key', 'list', '--json'], { env });
    assert.deepEqual(listed.map((key: any) => [key.kid, key.state]), [[firstKid, 'published'], [rotated.added.kid, 'signing']]);
    // The server rereads the keys within 10 s.
    await waitUntil(async () => (await jwks()).keys.some((key) => key.kid === rotated.added.kid), 30_000, 'the new key in the JWKS');
    assert.equal((await jwks()).keys.length, keysBefore + 1, 'the old key stays published');
    await verifyAgainstJwks(answer.data.access_token);
    const second = await pahoToken('paho-token-2');
    assert.equal(decodeProtectedHeader(second.answer.data.access_token).kid, rotated.added.kid);
    await verifyAgainstJwks(second.answer.data.access_token);
  });

  test('agent-token-key on a data dir the server never started on: exit 78, one line, nothing created', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'trustgate-agent-token-empty-'));
    try {
      for (const args of [['agent-token-key', 'list'], ['agent-token-key', 'rotate']]) {
        assertOneLineFailure(await cli(args, { env: { TRUSTGATE_DATA_DIR: empty } }), 78, /has no managed-ca-sealing\.key/);
      }
      assert.deepEqual(await readdir(empty), []);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
