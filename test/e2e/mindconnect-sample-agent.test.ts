import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { PYTHON, Resources, RunningProcess } from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { waitUntil } from '../support/wait-until.ts';

// Issue 19 "done when": MindConnect's public sample agent (github mindsphere/mindconnect-mqtt,
// MindConnectClient.py), run unchanged but for its config file, receives a command created with
// POST /deliveryJobs, executes it and the job shows EXECUTED. Its code is not part of this
// repository: point MINDCONNECT_SAMPLE_AGENT_DIR at a checkout of it to run this test (it needs
// Debian's python3-paho-mqtt, python3-requests and python3-schedule, and the MQTT port 8883, which
// the agent has built in); without it the test is skipped.
const SAMPLE_DIR = process.env.MINDCONNECT_SAMPLE_AGENT_DIR;

describe('MindConnect\'s sample agent, unchanged', { skip: SAMPLE_DIR ? false : 'set MINDCONNECT_SAMPLE_AGENT_DIR to a checkout of mindsphere/mindconnect-mqtt', timeout: 90_000 }, () => {
  let server: TestServer;
  let dir: string;
  const resources = new Resources();
  before(async () => {
    server = await startTestServer({ TRUSTGATE_MQTT_PORT: '8883', TRUSTGATE_HOSTNAMES: 'localhost' });
    resources.add(() => server.close());
    dir = await mkdtemp(join(tmpdir(), 'trustgate-sample-agent-'));
    resources.add(() => rm(dir, { recursive: true, force: true }));
    await cp(SAMPLE_DIR!, dir, { recursive: true, filter: (source) => !source.includes('/.git') });
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

  it('connects with its own code, receives the actuator command, executes it, and the job ends EXECUTED', async () => {
    const tenant = newTenant('sample');
    const issued = (await server.api(tenant, '/agentCertificates', { body: { name: 'mqttagent' } })).body;
    await writeFile(join(dir, 'agent_cert', 'trustgate-agent.pem'), issued.publicKey);
    await writeFile(join(dir, 'agent_cert', 'trustgate-agent.key'), issued.privateKey, { mode: 0o600 });
    await writeFile(join(dir, 'agent_cert', 'trustgate-broker-ca.pem'), server.brokerRootCaPem);
    // The one file changed: where the broker is, who the agent is, and its certificate files.
    await writeFile(join(dir, 'configs', 'mqtt-config.json'), JSON.stringify({
      AWS: {
        IOT_HOST: 'localhost', CLIENT_ID: issued.clientId, DEVICE_NAME: 'mqttagent', TENANT_ID: tenant,
        CA_PATH: 'agent_cert/trustgate-broker-ca.pem', DEVICE_CERT_PATH: 'agent_cert/trustgate-agent.pem', DEVICE_KET_PATH: 'agent_cert/trustgate-agent.key',
        MODEL_NAME: 'JetPumpModel', GW_URL: 'http://127.0.0.1:9', SGW_URL: 'http://127.0.0.1:9', PLATFORM: 'AWS',
      },
    }, null, 2));
    const agent = resources.process(new RunningProcess(PYTHON, ['MindConnectClient.py'], { cwd: dir, timeoutMs: 80_000, env: { PYTHONUNBUFFERED: '1' } }));
    await agent.waitForOutput(/Subscribed to topic : .*\/i\/cmd_v3\/c/, 30_000);
    const job = await commanding(tenant, '/deliveryJobs', { name: 'start pump', clientIds: [issued.clientId], data: { commandType: 'actuator_control', execute_command: 'START' } });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    // It sleeps 3 s "processing", then reports EXECUTED.
    await waitUntil(async () => (await commanding(tenant, `/deliveryJobs/${job.body.id}`)).body.status === 'EXECUTED', 30_000, 'the job is EXECUTED');
    const { commands } = (await commanding(tenant, `/deliveryJobs/${job.body.id}/commands`)).body;
    assert.deepEqual(commands[0].response, { message: 'Successfully Executed START' });
    await agent.kill();
  });
});
