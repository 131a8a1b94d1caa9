import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { assertError, newTenant } from '../support/api-helpers.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAgent, endClient, issueAgent, MessageLog, PYTHON, registerVerifiedCa, Resources, RunningProcess, subackCodes, writeAgentFiles } from '../support/broker-helpers.ts';
import { captureLogs } from '../support/capture-logs.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import type { TestCertificate } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';

// Issue 19 part 2: the Commanding API (/api/commanding/v3) and delivery over MQTT, end to end with
// MQTT.js agents behaving as MindConnect's sample agent does (mindsphere/mindconnect-mqtt,
// MindConnectClient.py): persistent session, QoS 1 subscription to i/cmd_v3/c, QoS 0 updates on
// o/cmd_v3/u with a new "id" and the command's id as "requestId", EXECUTING then EXECUTED.

const BASE = '/api/commanding/v3';

/** paho 1.6, persistent session; stays in on_message (no PUBACK yet) until the file argv[8] exists. */
const SLOW_AGENT = `
import os, sys, threading, time
import paho.mqtt.client as paho
host, port, cafile, cert, key, topic, client_id, release = sys.argv[1:9]
threading.Timer(35.0, lambda: os._exit(3)).start()
client = paho.Client(client_id, clean_session=False)
client.tls_set(ca_certs=cafile, certfile=cert, keyfile=key)
client.on_connect = lambda c, u, f, rc: c.subscribe(topic, 1)
client.on_subscribe = lambda c, u, mid, granted: print("SUBACK", *granted, flush=True)
def on_message(c, u, msg):
    print("COMMAND", msg.payload.decode(), flush=True)
    while not os.path.exists(release):
        time.sleep(0.02)
client.on_message = on_message
client.connect(host, int(port), keepalive=30)
client.loop_forever()
`;

describe('Commanding API and command delivery', { timeout: 120_000 }, () => {
  let server: TestServer;
  const resources = new Resources();
  const logs = captureLogs('info');
  let tenant: string;
  let otherTenant: string;
  let agentCert: TestCertificate;
  let secondCert: TestCertificate;
  let clientId: string;
  let secondId: string;
  let foreignId: string;

  const call = async (path: string, init: { method?: string; body?: unknown; tenant?: string; scopes?: string[] } = {}) => {
    const token = await server.token(init.tenant ?? tenant, init.scopes ? { scopes: init.scopes } : {});
    const response = await fetch(`${server.url}${BASE}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${token}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text), text };
  };
  const createJob = async (clientIds: string[], data: unknown = { commandType: 'actuator_control', execute_command: 'START' }) => {
    const answer = await call('/deliveryJobs', { body: { name: 'start pump', clientIds, data } });
    assert.equal(answer.status, 201, answer.text);
    return answer.body;
  };
  const commandsOf = async (jobId: string): Promise<any[]> => {
    const answer = await call(`/deliveryJobs/${jobId}/commands`);
    assert.equal(answer.status, 200, answer.text);
    return answer.body.commands;
  };
  const waitForCommand = (jobId: string, condition: (command: any) => boolean, what: string) =>
    waitUntil(async () => (await commandsOf(jobId)).every(condition), 8_000, what);

  /** Connects as the sample agent does: persistent session, then SUBSCRIBE i/cmd_v3/c at QoS 1. */
  const sampleAgent = async (cert: TestCertificate, id: string, options: { subscribe?: boolean } = {}) => {
    let log!: MessageLog;
    const client = await connectAgent(server, cert, id, { clean: false }, (c) => { log = new MessageLog(c); });
    resources.add(() => endClient(client));
    if (options.subscribe !== false) assert.deepEqual(await subackCodes(client, { [`tc/${tenant}/${id}/i/cmd_v3/c`]: { qos: 1 } }), [1]);
    return { client, log };
  };
  const report = (client: MqttClient, id: string, command: { id: string; data: { jobId: string } }, status: string, response: unknown = { ok: true }) =>
    client.publishAsync(`tc/${tenant}/${id}/o/cmd_v3/u`, JSON.stringify({
      id: randomUUID(), requestId: command.id, data: { timestamp: new Date().toISOString(), jobId: command.data.jobId, status, response },
    }), { qos: 0 });

  before(async () => {
    server = await startTestServer({ TRUSTGATE_COMMAND_SWEEP_MS: '200' }, { logger: logs.logger });
    resources.add(() => server.close());
    tenant = newTenant('cmd');
    otherTenant = newTenant('oth');
    const { ca } = await registerVerifiedCa(server, tenant);
    agentCert = await issueAgent(ca, 'pump');
    secondCert = await issueAgent(ca, 'valve');
    clientId = `${tenant}_pump`;
    secondId = `${tenant}_valve`;
    const foreign = await registerVerifiedCa(server, otherTenant);
    foreignId = `${otherTenant}_fan`;
    // Onboarded by a first connection each (persistent sessions: the agents' queues exist from here on).
    for (const [cert, id] of [[agentCert, clientId], [secondCert, secondId], [await issueAgent(foreign.ca, 'fan'), foreignId]] as const) {
      const client = await connectAgent(server, cert, id, { clean: false });
      if (id !== foreignId) await client.subscribeAsync(`tc/${id.split('_')[0]}/${id}/i/cmd_v3/c`, { qos: 1 });
      await endClient(client);
    }
  });
  after(() => resources.closeAll());

  it('refuses bad jobs with specific 4xx codes; another tenant\'s client id is answered exactly like an unknown one; a read token cannot POST', async () => {
    assertError(await call('/deliveryJobs', { body: { name: 'n', clientIds: [], data: {} } }), 400, 'deliveryJob.clientIdsEmpty');
    assertError(await call('/deliveryJobs', { body: { name: 'n', clientIds: Array.from({ length: 21 }, (_, i) => `${tenant}_a${i}`), data: {} } }), 400, 'deliveryJob.tooManyClientIds');
    assertError(await call('/deliveryJobs', { body: { name: 'n', clientIds: [clientId, clientId], data: {} } }), 400, 'deliveryJob.duplicateClientId');
    assertError(await call('/deliveryJobs', { body: { name: 'n', clientIds: [clientId], data: { b: 'x'.repeat(11 * 1024) } } }), 400, 'deliveryJob.dataTooLarge');
    assertError(await call('/deliveryJobs', { body: { name: '', clientIds: [clientId], data: {} } }), 400, 'deliveryJob.nameInvalid');
    assertError(await call('/deliveryJobs', { body: { name: 'x'.repeat(129), clientIds: [clientId], data: {} } }), 400, 'deliveryJob.nameInvalid');
    assertError(await call('/deliveryJobs', { body: { name: 'n', clientIds: [clientId] } }), 400, 'request.invalid');
    const foreign = await call('/deliveryJobs', { body: { name: 'n', clientIds: [foreignId], data: {} } });
    const unknownId = `${otherTenant}_nobody`;
    const unknown = await call('/deliveryJobs', { body: { name: 'n', clientIds: [unknownId], data: {} } });
    assertError(foreign, 404, 'deliveryJob.agentNotFound');
    assertError(unknown, 404, 'deliveryJob.agentNotFound');
    const strip = (answer: { body: any }, id: string) => JSON.stringify({ ...answer.body.errors[0], logref: '' }).replace(id, 'ID');
    assert.equal(strip(foreign, foreignId), strip(unknown, unknownId));
    assertError(await call('/deliveryJobs', { body: { name: 'n', clientIds: [clientId], data: {} }, scopes: ['mcmqtt.read'] }), 403, 'auth.scopeMissing');
    assert.equal((await call('/deliveryJobs', { scopes: ['mcmqtt.read'] })).status, 200);
    // Another tenant's job: 404 on every route.
    const theirs = (await call('/deliveryJobs', { tenant: otherTenant, body: { name: 'n', clientIds: [foreignId], data: {} } })).body;
    assertError(await call(`/deliveryJobs/${theirs.id}`), 404, 'deliveryJob.notFound');
    assertError(await call(`/deliveryJobs/${theirs.id}/commands`), 404, 'deliveryJob.notFound');
    assertError(await call(`/deliveryJobs/${theirs.id}`, { method: 'DELETE' }), 404, 'deliveryJob.notFound');
    assertError(await call('/deliveryJobs/not-an-id'), 404, 'deliveryJob.notFound');
    assert.equal((await call('/deliveryJobs')).body.deliveryJobs.some((job: any) => job.id === theirs.id), false);
  });

  it('delivers to an online agent (QoS 1); updates as the sample agent sends them move the command to EXECUTED and the job with it', async () => {
    const { client, log } = await sampleAgent(agentCert, clientId);
    const job = await createJob([clientId]);
    assert.equal(job.status, 'EXECUTING');
    const message = await log.next(`tc/${tenant}/${clientId}/i/cmd_v3/c`, 5_000);
    assert.equal(message.qos, 1);
    const command = JSON.parse(message.payload.toString());
    assert.equal(command.data.jobId, job.id);
    assert.deepEqual(command.data.payload, { commandType: 'actuator_control', execute_command: 'START' });
    await waitForCommand(job.id, (c) => c.status === 'DELIVERED', 'the command is DELIVERED');
    await report(client, clientId, command, 'EXECUTING', {});
    await waitForCommand(job.id, (c) => c.status === 'EXECUTING', 'the command is EXECUTING');
    await report(client, clientId, command, 'EXECUTED', { result: 'started' });
    await waitForCommand(job.id, (c) => c.status === 'EXECUTED', 'the command is EXECUTED');
    const [stored] = await commandsOf(job.id);
    assert.equal(stored.id, command.id);
    assert.deepEqual(stored.response, { result: 'started' });
    assert.equal((await call(`/deliveryJobs/${job.id}`)).body.status, 'EXECUTED');
    // A late EXECUTING changes nothing; so does an update naming another job.
    await report(client, clientId, command, 'EXECUTING');
    await report(client, clientId, { id: command.id, data: { jobId: '0'.repeat(24) } }, 'FAILED');
    await waitUntil(() => logs.lines.some((line) => line.msg === 'command update ignored' && line.reason === 'unknown or foreign job or command'), 5_000, 'the foreign update is logged');
    assert.equal((await commandsOf(job.id))[0].status, 'EXECUTED');
    assert.equal(log.on(`tc/${tenant}/${clientId}/i/cmd_v3/c`).length, 1, 'delivered once');
    await endClient(client);
  });

  it('delivers to an offline agent when it next connects, once; a canceled job\'s command never arrives, not even from the persistent session\'s queue', async () => {
    // valve is offline with a persistent session subscribed to i/cmd_v3/c: aedes queues for it.
    const canceledJob = await createJob([secondId], { which: 'canceled' });
    const keptJob = await createJob([secondId], { which: 'kept' });
    await waitUntil(async () => (await commandsOf(canceledJob.id))[0].status === 'PENDING', 2_000, 'stored');
    const canceled = await call(`/deliveryJobs/${canceledJob.id}`, { method: 'DELETE' });
    assert.equal(canceled.status, 200, canceled.text);
    assert.equal(canceled.body.status, 'CANCELED');
    assert.equal((await call(`/deliveryJobs/${canceledJob.id}`)).body.status, 'CANCELED');
    assert.equal((await commandsOf(canceledJob.id))[0].status, 'CANCELED');
    const { client, log } = await sampleAgent(secondCert, secondId);
    const topic = `tc/${tenant}/${secondId}/i/cmd_v3/c`;
    const kept = JSON.parse((await log.next(topic, 5_000)).payload.toString());
    assert.deepEqual(kept.data.payload, { which: 'kept' });
    await waitForCommand(keptJob.id, (c) => c.status === 'DELIVERED', 'the kept command is DELIVERED');
    // Positive control after the queue and the re-send: a new job's command arrives, the canceled one never did.
    const control = await createJob([secondId], { which: 'control' });
    await waitUntil(() => log.on(topic).some((m) => JSON.parse(m.payload.toString()).data.jobId === control.id), 5_000, 'the control command arrives');
    const jobIds = log.on(topic).map((m) => JSON.parse(m.payload.toString()).data.jobId);
    assert.equal(jobIds.includes(canceledJob.id), false, 'the canceled command was delivered');
    assert.equal(jobIds.filter((id) => id === keptJob.id).length, 1, 'the kept command arrived once');
    // Published once: by the creating call (queued for the session); the resumed session's SUBSCRIBE re-sends nothing.
    const [keptCommand] = await commandsOf(keptJob.id);
    assert.equal(logs.find('command published', { commandId: keptCommand.id }).length, 1);
    await endClient(client);
  });

  it('a command for an agent that never subscribed is sent on its first SUBSCRIBE (fresh session)', async () => {
    const { client } = await sampleAgent(agentCert, clientId, { subscribe: false });
    await endClient(client);
    const job = await createJob([clientId], { late: true });
    const fresh = await connectAgent(server, agentCert, clientId, { clean: true });
    resources.add(() => endClient(fresh));
    const log = new MessageLog(fresh);
    await fresh.subscribeAsync(`tc/${tenant}/${clientId}/i/cmd_v3/c`, { qos: 1 });
    const message = JSON.parse((await log.next(`tc/${tenant}/${clientId}/i/cmd_v3/c`, 5_000)).payload.toString());
    assert.equal(message.data.jobId, job.id);
    await endClient(fresh);
  });

  it('lists jobs newest first, a page at a time', async () => {
    const first = await call('/deliveryJobs?limit=1');
    assert.equal(first.status, 200);
    assert.equal(first.body.deliveryJobs.length, 1);
    const second = await call(`/deliveryJobs?limit=1&cursor=${first.body.nextCursor}`);
    assert.ok(second.body.deliveryJobs[0].createdAt <= first.body.deliveryJobs[0].createdAt);
    assertError(await call('/deliveryJobs?cursor=abc'), 400, 'deliveryJob.cursorInvalid');
  });
});

describe('command expiry', { timeout: 60_000 }, () => {
  const resources = new Resources();
  after(() => resources.closeAll());

  it('a command its agent does not take within TRUSTGATE_COMMAND_EXPIRY_MS becomes EXPIRED, the job FAILED, and it is never delivered', async () => {
    const server = await startTestServer({ TRUSTGATE_COMMAND_EXPIRY_MS: '1500', TRUSTGATE_COMMAND_SWEEP_MS: '100' });
    resources.add(() => server.close());
    const tenant = newTenant('exp');
    const { ca } = await registerVerifiedCa(server, tenant);
    const cert = await issueAgent(ca, 'pump');
    const clientId = `${tenant}_pump`;
    const topic = `tc/${tenant}/${clientId}/i/cmd_v3/c`;
    const first = await connectAgent(server, cert, clientId, { clean: false });
    await first.subscribeAsync(topic, { qos: 1 });
    await endClient(first);
    const call = async (path: string, body?: unknown) => {
      const response = await fetch(`${server.url}${BASE}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${await server.token(tenant)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return await response.json() as any;
    };
    const job = await call('/deliveryJobs', { name: 'late', clientIds: [clientId], data: { which: 'expired' } });
    await waitUntil(async () => (await call(`/deliveryJobs/${job.id}`)).status === 'FAILED', 10_000, 'the job FAILED');
    assert.equal((await call(`/deliveryJobs/${job.id}/commands`)).commands[0].status, 'EXPIRED');
    let log!: MessageLog;
    const back = await connectAgent(server, cert, clientId, { clean: false }, (c) => { log = new MessageLog(c); });
    resources.add(() => endClient(back));
    await back.subscribeAsync(topic, { qos: 1 });
    const control = await call('/deliveryJobs', { name: 'control', clientIds: [clientId], data: { which: 'control' } });
    await waitUntil(() => log.on(topic).some((m) => JSON.parse(m.payload.toString()).data.jobId === control.id), 5_000, 'the control command arrives');
    assert.equal(log.on(topic).some((m) => JSON.parse(m.payload.toString()).data.jobId === job.id), false, 'the expired command was delivered');
  });
});

describe('the Commanding API\'s rate limit (TRUSTGATE_RATE_LIMITS=mindconnect)', { timeout: 60_000 }, () => {
  const resources = new Resources();
  after(() => resources.closeAll());

  it('POST /deliveryJobs: 60 per 30 s per tenant, then 429 rateLimit.exceeded with Retry-After; reading is not limited by it', async () => {
    const server = await startTestServer({ TRUSTGATE_RATE_LIMITS: 'mindconnect' });
    resources.add(() => server.close());
    const tenant = newTenant('rl');
    const token = await server.token(tenant);
    const post = () => fetch(`${server.url}${BASE}/deliveryJobs`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'n', clientIds: [], data: {} }),
    });
    for (let i = 0; i < 60; i += 1) assert.equal((await post()).status, 400);
    const refused = await post();
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assertError({ status: refused.status, body: await refused.json() }, 429, 'rateLimit.exceeded');
    const read = await fetch(`${server.url}${BASE}/deliveryJobs`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(read.status, 200);
  });
});

describe('the re-send sweep', { timeout: 60_000 }, () => {
  const resources = new Resources();
  after(() => resources.closeAll());

  it('re-sends a command that never reached a connected, subscribed agent; never one handed over but slow to PUBACK', async () => {
    const server = await startTestServer({ TRUSTGATE_COMMAND_SWEEP_MS: '100', TRUSTGATE_COMMAND_RESEND_MS: '300' });
    resources.add(() => server.close());
    const tenant = newTenant('rs');
    const { ca } = await registerVerifiedCa(server, tenant);
    const call = async (path: string, body?: unknown) => {
      const response = await fetch(`${server.url}${BASE}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${await server.token(tenant)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return await response.json() as any;
    };

    // Slow: a paho agent that works inside on_message (as MindConnect's sample agent does), so its
    // PUBACK waits until the test lets it go, across many sweeps.
    const slowId = `${tenant}_slow`;
    const dir = await mkdtemp(join(tmpdir(), 'trustgate-slow-agent-'));
    resources.add(() => rm(dir, { recursive: true, force: true }));
    const files = await writeAgentFiles(dir, 'slow', server, await issueAgent(ca, 'slow'));
    const release = join(dir, 'release');
    const slow = resources.process(new RunningProcess(PYTHON, ['-c', SLOW_AGENT, 'localhost', String(server.mqttPort), files.cafile, files.cert, files.key, `tc/${tenant}/${slowId}/i/cmd_v3/c`, slowId, release], { timeoutMs: 40_000 }));
    await slow.waitForOutput(/SUBACK 1/, 10_000);
    const slowJob = await call('/deliveryJobs', { name: 'slow', clientIds: [slowId], data: {} });
    await slow.waitForOutput(/COMMAND/, 5_000);

    // Lost: published while the agent had no subscription (as while its route was on its way).
    const lostId = `${tenant}_lost`;
    let log!: MessageLog;
    const lost = await connectAgent(server, await issueAgent(ca, 'lost'), lostId, {}, (c) => { log = new MessageLog(c); });
    resources.add(() => endClient(lost));
    const topic = `tc/${tenant}/${lostId}/i/cmd_v3/c`;
    await lost.subscribeAsync(topic, { qos: 1 });
    await lost.unsubscribeAsync(topic);
    const lostJob = await call('/deliveryJobs', { name: 'lost', clientIds: [lostId], data: {} });
    await waitUntil(async () => (await call(`/deliveryJobs/${lostJob.id}/commands`)).commands[0].status === 'PENDING', 2_000, 'published to nobody');
    await lost.subscribeAsync(topic, { qos: 1 });
    const resent = JSON.parse((await log.next(topic, 10_000)).payload.toString());
    assert.equal(resent.data.jobId, lostJob.id);

    // By then the sweep has passed the slow agent's command too (older, same query): not sent twice.
    assert.equal((await call(`/deliveryJobs/${slowJob.id}/commands`)).commands[0].status, 'PENDING');
    await writeFile(release, '');
    await waitUntil(async () => (await call(`/deliveryJobs/${slowJob.id}/commands`)).commands[0].status === 'DELIVERED', 5_000, 'the slow agent\'s PUBACK');
    assert.equal(slow.stdout.match(/COMMAND/g)?.length, 1, slow.stdout);
  });
});
