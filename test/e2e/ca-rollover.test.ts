import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connectClient, endClient } from '../support/broker-helpers.ts';
import { assertOneLineFailure, cli, cliJson, cliOk } from '../support/run-cli.ts';
import { spawnServer, type SpawnedServer } from '../support/spawn-server.ts';
import { EXIT } from '../../src/cli/cli-error.ts';

// docs/ca-rollover.md as a user runs it (issue 15, parts 3 and 5): the CLI marks what expires soon,
// `agent list --expiring` and `--ca` filter, `ca show` counts who still uses a CA; an agent that
// reconnects with a certificate of the new CA (same CN) moves from the old CA's list to the new
// one's, and once none is left the old CA is deleted without cutting anyone off.
describe('CA rollover runbook (docs/ca-rollover.md): CLI + broker', { timeout: 240_000 }, () => {
  let root: string;
  let server: SpawnedServer;
  let env: Record<string, string>;
  let brokerCa: string;
  const clients: MqttClient[] = [];
  const run = (...args: string[]) => cliOk([...args, '--tenant', 'acme'], { env, cwd: root });
  const json = (...args: string[]) => cliJson([...args, '--tenant', 'acme'], { env, cwd: root });

  const connect = async (dir: string, name: string): Promise<MqttClient> => {
    const client = await connectClient(`mqtts://localhost:${server.mqttPort}`, {
      ca: brokerCa, cert: await readFile(join(root, dir, `${name}.pem`)), key: await readFile(join(root, dir, `${name}.key`)),
      clientId: await readFile(join(root, dir, `${name}.clientid`), 'utf8'), reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5_000,
    }, `agent ${name} (${dir})`);
    clients.push(client);
    return client;
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-rollover-'));
    server = await spawnServer({ dataDir: join(root, 'data'), startTimeoutMs: 60_000 });
    env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: join(root, 'data') };
    brokerCa = (await cliOk(['broker-ca'], { env })).stdout;
  });
  after(async () => {
    await Promise.all(clients.map(endClient));
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('marks expiry, filters, counts, and moves an agent from the old CA to the new one', async () => {
    // The old CA expires in 20 days; its agents' certificates in 5.
    await run('ca', 'create', '--name', 'acme CA 2026', '--days', '20', '--out-dir', 'old');
    const oldCa = await json('ca', 'register', '--cert', 'old/acme-ca.pem', '--key', 'old/acme-ca.key');
    for (const name of ['pump-1', 'pump-2']) {
      await run('agent', 'issue', '--name', name, '--ca-cert', 'old/acme-ca.pem', '--ca-key', 'old/acme-ca.key', '--days', '5', '--out-dir', 'agents-old');
      await connect('agents-old', name);
    }

    assert.match((await run('ca', 'list')).stdout, new RegExp(`${oldCa.id}.*\\(expires in 1[89] days\\)`));
    const agentTable = (await run('agent', 'list')).stdout.split('\n');
    assert.match(agentTable[0]!, /^ID\s+CLIENT ID\s+ENABLED\s+ONLINE\s+LAST CONNECTED\s+CERTIFICATE EXPIRES$/);
    assert.match(agentTable[1]!, /acme_pump-\d.*\(expires in [45] days\)$/);
    assert.deepEqual((await json('agent', 'list', '--expiring', '7d')).map((agent: any) => agent.clientId).sort(), ['acme_pump-1', 'acme_pump-2']);
    assert.deepEqual(await json('agent', 'list', '--expiring', '2d'), []);
    assert.equal((await run('agent', 'list', '--expiring', '2d')).stdout, 'no agents match\n');
    assertOneLineFailure(await cli(['agent', 'list', '--expiring', 'soon', '--tenant', 'acme'], { env }), EXIT.usage, /--expiring "soon" is not a duration/);
    assert.match((await run('ca', 'show', oldCa.id)).stdout, /agents\s+2 agents still use this CA \(trustgate agent list --ca /);
    assert.equal((await json('ca', 'show', oldCa.id)).agentCount, 2);

    // The runbook: the new CA in the second slot, agent certificates re-issued with the same names.
    await run('ca', 'create', '--name', 'acme CA 2027', '--days', '3650', '--out-dir', 'new');
    const newCa = await json('ca', 'register', '--cert', 'new/acme-ca.pem', '--key', 'new/acme-ca.key');
    await run('agent', 'issue', '--name', 'pump-1', '--ca-cert', 'new/acme-ca.pem', '--ca-key', 'new/acme-ca.key', '--out-dir', 'agents-new');
    const before = (await json('agent', 'list', '--ca', oldCa.id)).find((agent: any) => agent.clientId === 'acme_pump-1');
    await connect('agents-new', 'pump-1');
    const onOld = await json('agent', 'list', '--ca', oldCa.id);
    const onNew = await json('agent', 'list', '--ca', newCa.id);
    assert.deepEqual(onOld.map((agent: any) => agent.clientId), ['acme_pump-2']);
    assert.deepEqual(onNew.map((agent: any) => agent.clientId), ['acme_pump-1']);
    assert.equal(onNew[0].id, before.id, 'the agent keeps its identity');
    assert.match((await run('ca', 'show', oldCa.id)).stdout, /1 agent still uses this CA/);

    await run('agent', 'issue', '--name', 'pump-2', '--ca-cert', 'new/acme-ca.pem', '--ca-key', 'new/acme-ca.key', '--out-dir', 'agents-new');
    await connect('agents-new', 'pump-2');
    assert.deepEqual(await json('agent', 'list', '--ca', oldCa.id), []);
    assert.match((await run('ca', 'show', oldCa.id)).stdout, /0 agents still use this CA/);
    await run('ca', 'delete', oldCa.id);
    // The re-issued certificates keep working after the old CA is gone.
    await connect('agents-new', 'pump-1');
    assert.deepEqual((await json('agent', 'list', '--ca', newCa.id)).map((agent: any) => agent.clientId).sort(), ['acme_pump-1', 'acme_pump-2']);
  });
});
