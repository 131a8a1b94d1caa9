import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { loadDevSigningKey, mintDevToken } from '../auth/index.ts';
import { callApi, spawnServer, type SpawnedServer } from '../../test/support/spawn-server.ts';
import { connectAgent, endClient } from '../../test/support/broker-helpers.ts';
import type { TestServer } from '../../test/support/start-test-server.ts';
import { assertOneLineFailure, cli, cliJson, cliOk } from '../../test/support/run-cli.ts';
import { EXIT } from './cli-error.ts';

// `trustgate command send|list|show` (issue 19 part 4) as a user runs them against a real server,
// with an MQTT.js agent that executes what it receives as MindConnect's sample agent does.

describe('trustgate command', { timeout: 240_000 }, () => {
  let server: SpawnedServer;
  let root: string;
  let env: Record<string, string>;
  let agent: MqttClient;
  let clientId: string;
  const tenant = `cli-cmd-${process.pid}`;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-cli-command-'));
    const dataDir = join(root, 'data');
    server = await spawnServer({ dataDir, startTimeoutMs: 60_000 });
    env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: dataDir };
    const token = await mintDevToken((await loadDevSigningKey(dataDir))!, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: 600 });
    const issued = (await callApi(server.apiUrl, token, '/agentCertificates', { name: 'motor' })).body;
    clientId = issued.clientId;
    const brokerRootCaPem = await (await fetch(`${server.url}/broker-ca.pem`)).text();
    const broker = { mqttPort: server.mqttPort, brokerRootCaPem } as TestServer;
    agent = await connectAgent(broker, { certificatePem: issued.publicKey, privateKeyPem: issued.privateKey }, clientId, { clean: false });
    await agent.subscribeAsync(`tc/${tenant}/${clientId}/i/cmd_v3/c`, { qos: 1 });
    agent.on('message', (_topic, payload) => {
      const command = JSON.parse(payload.toString());
      const ok = command.data.payload.execute_command === 'START';
      for (const status of ['EXECUTING', ok ? 'EXECUTED' : 'FAILED']) {
        agent.publish(`tc/${tenant}/${clientId}/o/cmd_v3/u`, JSON.stringify({
          id: randomUUID(), requestId: command.id, data: { timestamp: new Date().toISOString(), jobId: command.data.jobId, status, response: { message: status } },
        }), { qos: 0 });
      }
    });
  });
  after(async () => {
    if (agent) await endClient(agent);
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test('send prints the job id; --wait follows it to EXECUTED (exit 0) or FAILED (exit 1); list and show read it back', async () => {
    const sent = await cliOk(['command', 'send', '--client-id', clientId, '--data', '{"execute_command": "START"}', '--tenant', tenant], { env });
    const jobId = sent.stdout.trim();
    assert.match(jobId, /^[0-9a-f]{24}$/);
    const waited = await cliJson(['command', 'send', '--client-id', clientId, '--data', '{"execute_command": "START"}', '--wait', '--tenant', tenant], { env });
    assert.equal(waited.status, 'EXECUTED');
    assert.deepEqual(waited.commands.map((c: any) => [c.clientId, c.status]), [[clientId, 'EXECUTED']]);
    const failed = await cli(['command', 'send', '--client-id', clientId, '--data', '{"execute_command": "EXPLODE"}', '--wait', '--tenant', tenant], { env });
    assert.equal(failed.code, EXIT.refused, failed.stderr);
    assert.match(failed.stdout, /status: FAILED/);
    const listed = await cliJson<any[]>(['command', 'list', '--tenant', tenant], { env });
    assert.ok(listed.some((job) => job.id === jobId));
    const shown = await cliOk(['command', 'show', jobId, '--tenant', tenant], { env });
    assert.match(shown.stdout, new RegExp(`${clientId}\\s+EXECUTED`));
  });

  test('bad input fails with one line and its exit code', async () => {
    assertOneLineFailure(await cli(['command', 'send', '--client-id', `${tenant}_nobody`, '--data', '{}', '--tenant', tenant], { env }), EXIT.notFound, /deliveryJob\.agentNotFound/);
    const many = Array.from({ length: 21 }, (_, i) => `${tenant}_a${i}`).join(',');
    assertOneLineFailure(await cli(['command', 'send', '--client-id', many, '--data', '{}', '--tenant', tenant], { env }), EXIT.dataError, /deliveryJob\.tooManyClientIds/);
    assertOneLineFailure(await cli(['command', 'send', '--client-id', clientId, '--data', '{not json', '--tenant', tenant], { env }), EXIT.usage, /--data is not JSON/);
    assertOneLineFailure(await cli(['command', 'show', '0'.repeat(24), '--tenant', tenant], { env }), EXIT.notFound, /deliveryJob\.notFound/);
  });
});
