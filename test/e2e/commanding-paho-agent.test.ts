import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, endClient, issueAgent, PYTHON, registerVerifiedCa, Resources, RunningProcess, writeAgentFiles } from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { waitUntil } from '../support/wait-until.ts';

// Issue 19 "done when": an agent that handles commands exactly as MindConnect's public sample agent
// (mindsphere/mindconnect-mqtt, MindConnectClient.py) does — written here from its observable
// behaviour, not copied — receives a command created with POST /deliveryJobs, executes it, and the
// job shows EXECUTED. Debian's python3-paho-mqtt 1.6: Client(client_id, clean_session=False), TLS
// 1.2, on connect SUBSCRIBE [(i/cmd_v3/c, 1), (i/amo_v3/ip, 1), (i/agm_v3/tr, 1)]; on a command it
// works synchronously in on_message and publishes QoS 0 updates {"id": <new uuid4>, "requestId":
// <command id>, "data": {"timestamp", "jobId", "status", "response"}}: EXECUTING, then EXECUTED.
const SAMPLE_LIKE_AGENT = `
import json, os, ssl, sys, threading, time, uuid, datetime
import paho.mqtt.client as paho
host, port, cafile, cert, key, tenant, client_id = sys.argv[1:8]
threading.Timer(25.0, lambda: os._exit(3)).start()
base = "tc/" + tenant + "/" + client_id
client = paho.Client(client_id, clean_session=False)
client.tls_set(ca_certs=cafile, certfile=cert, keyfile=key, tls_version=ssl.PROTOCOL_TLSv1_2)
def now():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
def on_connect(c, userdata, flags, rc):
    print("CONNACK", rc, flush=True)
    c.subscribe([(base + "/i/cmd_v3/c", 1), (base + "/i/amo_v3/ip", 1), (base + "/i/agm_v3/tr", 1)])
def on_subscribe(c, userdata, mid, granted):
    print("SUBACK", *granted, flush=True)
def update(c, message, status, response):
    c.publish(base + "/o/cmd_v3/u", json.dumps({"id": str(uuid.uuid4()), "requestId": message["id"],
        "data": {"timestamp": now(), "jobId": message["data"]["jobId"], "status": status, "response": response}}), qos=0)
def on_message(c, userdata, msg):
    message = json.loads(str(msg.payload, "utf-8"))
    print("COMMAND", json.dumps(message), flush=True)
    if "cmd_v3" not in msg.topic:
        return
    command = message["data"]["payload"]
    update(c, message, "EXECUTING", {"progress": "50% done"})
    time.sleep(0.2)
    ok = command.get("commandType") == "actuator_control" and command.get("execute_command") in ("START", "STOP")
    update(c, message, "EXECUTED" if ok else "FAILED", {"message": ("Successfully Executed " if ok else "Invalid ") + str(command.get("execute_command"))})
    print("DONE", flush=True)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(host, int(port), keepalive=30)
client.loop_forever()
`;

describe('the sample agent\'s command handling, with Debian\'s paho', { timeout: 90_000 }, () => {
  let server: TestServer;
  let dir: string;
  const resources = new Resources();
  before(async () => {
    server = await startTestServer();
    resources.add(() => server.close());
    dir = await mkdtemp(join(tmpdir(), 'trustgate-paho-'));
    resources.add(() => rm(dir, { recursive: true, force: true }));
  });
  after(() => resources.closeAll());

  const commanding = async (tenant: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}/api/commanding/v3${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${await server.token(tenant)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() as any };
  };

  it('a command sent while the agent is offline is delivered when it connects; it executes it; the job ends EXECUTED with its response', async () => {
    const tenant = newTenant('paho');
    const { ca } = await registerVerifiedCa(server, tenant);
    const agent = await issueAgent(ca, 'raspberry');
    const clientId = `${tenant}_raspberry`;
    // Onboarded (an agent of the tenant) by a first connection, then away.
    await endClient(await connectAgent(server, agent, clientId));
    const job = await commanding(tenant, '/deliveryJobs', { name: 'start motor', clientIds: [clientId], data: { commandType: 'actuator_control', execute_command: 'START' } });
    assert.equal(job.status, 201, JSON.stringify(job.body));

    const files = await writeAgentFiles(dir, 'raspberry', server, agent);
    const paho = resources.process(new RunningProcess(PYTHON, ['-c', SAMPLE_LIKE_AGENT, 'localhost', String(server.mqttPort), files.cafile, files.cert, files.key, tenant, clientId], { timeoutMs: 30_000 }));
    await paho.waitForOutput(/CONNACK 0/, 10_000);
    await paho.waitForOutput(/SUBACK 1 1 1/, 10_000);
    const [, text] = await paho.waitForOutput(/COMMAND (.*)\n/, 10_000);
    const command = JSON.parse(text!);
    assert.equal(command.data.jobId, job.body.id);
    assert.deepEqual(command.data.payload, { commandType: 'actuator_control', execute_command: 'START' });
    await paho.waitForOutput(/DONE/, 10_000);
    await waitUntil(async () => (await commanding(tenant, `/deliveryJobs/${job.body.id}`)).body.status === 'EXECUTED', 10_000, 'the job is EXECUTED');
    const { commands } = (await commanding(tenant, `/deliveryJobs/${job.body.id}/commands`)).body;
    assert.equal(commands.length, 1);
    assert.equal(commands[0].id, command.id);
    assert.equal(commands[0].status, 'EXECUTED');
    assert.deepEqual(commands[0].response, { message: 'Successfully Executed START' });
    assert.ok(commands[0].deliveredAt);
    // A second job while it is online: delivered at once, and a STOP it also knows.
    const second = await commanding(tenant, '/deliveryJobs', { name: 'stop motor', clientIds: [clientId], data: { commandType: 'actuator_control', execute_command: 'STOP' } });
    await waitUntil(async () => (await commanding(tenant, `/deliveryJobs/${second.body.id}`)).body.status === 'EXECUTED', 10_000, 'the second job is EXECUTED');
    assert.equal(paho.stdout.match(/COMMAND /g)?.length, 2, 'each command arrived once');
    await paho.kill();
  });
});
