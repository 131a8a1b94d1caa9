import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, newTenant } from '../support/api-helpers.ts';
import { connectAgent, endClient, issueAgent, MessageLog, registerVerifiedCa, Resources, subackCodes } from '../support/broker-helpers.ts';
import { captureLogs } from '../support/capture-logs.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import type { TestCertificate } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';

// SPEC: no client can grow the broker's memory without bound. An agent that never takes its
// commands can hold at most TRUSTGATE_COMMANDS_PENDING_PER_AGENT undelivered ones (decision 0034).

const BASE = '/api/commanding/v3';

describe('Commanding: undelivered commands per agent are capped', { timeout: 60_000 }, () => {
  let server: TestServer;
  const resources = new Resources();
  const logs = captureLogs('info');
  let tenant: string;
  let pumpCert: TestCertificate;
  let pumpId: string;
  let valveId: string;

  const call = async (path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') => {
    const response = await fetch(`${server.url}${BASE}${path}`, {
      method,
      headers: { authorization: `Bearer ${await server.token(tenant)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text), text };
  };
  const jobCount = async (): Promise<number> => (await call('/deliveryJobs?limit=500')).body.deliveryJobs.length;

  before(async () => {
    server = await startTestServer({ TRUSTGATE_COMMANDS_PENDING_PER_AGENT: '2', TRUSTGATE_COMMAND_SWEEP_MS: '200' }, { logger: logs.logger });
    resources.add(() => server.close());
    tenant = newTenant('cb');
    const { ca } = await registerVerifiedCa(server, tenant);
    pumpCert = await issueAgent(ca, 'pump');
    const valveCert = await issueAgent(ca, 'valve');
    pumpId = `${tenant}_pump`;
    valveId = `${tenant}_valve`;
    for (const [cert, id] of [[pumpCert, pumpId], [valveCert, valveId]] as const) await endClient(await connectAgent(server, cert, id));
  });
  after(() => resources.closeAll());

  it('a job for an agent at the cap: 409 deliveryJob.agentBacklogFull naming it, nothing stored; a cancel or a delivery frees a slot', async () => {
    const first = await call('/deliveryJobs', { name: 'a', clientIds: [pumpId], data: { n: 1 } });
    assert.equal(first.status, 201, first.text);
    assert.equal((await call('/deliveryJobs', { name: 'b', clientIds: [pumpId], data: { n: 2 } })).status, 201);
    const refused = await call('/deliveryJobs', { name: 'c', clientIds: [valveId, pumpId], data: { n: 3 } });
    const error = assertError(refused, 409, 'deliveryJob.agentBacklogFull');
    assert.ok(error.message.includes(pumpId) && /\b2\b/.test(error.message), error.message);
    assert.equal(await jobCount(), 2, 'no job stored, not even for the valve');
    assert.equal((await call('/deliveryJobs', { name: 'd', clientIds: [valveId], data: {} })).status, 201, 'other agents are not affected');

    assert.equal((await call(`/deliveryJobs/${first.body.id}`, undefined, 'DELETE')).status, 200);
    assert.equal((await call('/deliveryJobs', { name: 'e', clientIds: [pumpId], data: { n: 4 } })).status, 201, 'a canceled command frees its slot');
    assertError(await call('/deliveryJobs', { name: 'f', clientIds: [pumpId], data: {} }), 409, 'deliveryJob.agentBacklogFull');

    // The agent takes (PUBACKs) its commands: the slots are free again.
    let log!: MessageLog;
    const client = await connectAgent(server, pumpCert, pumpId, { clean: true }, (c) => { log = new MessageLog(c); });
    resources.add(() => endClient(client));
    assert.deepEqual(await subackCodes(client, { [`tc/${tenant}/${pumpId}/i/cmd_v3/c`]: { qos: 1 } }), [1]);
    await waitUntil(() => log.on(`tc/${tenant}/${pumpId}/i/cmd_v3/c`).length >= 2, 5_000, 'the two commands');
    await waitUntil(async () => (await call('/deliveryJobs', { name: 'g', clientIds: [pumpId], data: {} })).status === 201, 5_000, 'a slot after delivery');
  });
});
