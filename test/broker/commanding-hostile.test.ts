import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { assertError, newTenant } from '../support/api-helpers.ts';
import { closesWithin, connectAgent, connectApplication, endClient, issueAgent, MessageLog, registerVerifiedCa, Resources, subackCodes } from '../support/broker-helpers.ts';
import { captureLogs } from '../support/capture-logs.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import type { TestCertificate } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';

// Review of the Commanding API (issue 19 part 2) as an outsider, a hostile tenant and a hostile
// agent: each attack that found something, or that guards a boundary the code relies on, is kept
// here. Every bad input: a specific 4xx, no state change, never a 5xx; the broker keeps serving.

const BASE = '/api/commanding/v3';
const nestedText = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const nested = (depth: number): unknown => JSON.parse(nestedText(depth));

describe('Commanding: hostile callers and agents', { timeout: 120_000 }, () => {
  let server: TestServer;
  const resources = new Resources();
  const logs = captureLogs('info');
  let tenant: string;
  let otherTenant: string;
  let pumpCert: TestCertificate;
  let valveCert: TestCertificate;
  let fanCert: TestCertificate;
  let pumpId: string;
  let valveId: string;
  let fanId: string;

  const call = async (path: string, init: { method?: string; body?: unknown; raw?: string; contentType?: string; tenant?: string } = {}) => {
    const token = await server.token(init.tenant ?? tenant);
    const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
    const response = await fetch(`${server.url}${BASE}${path}`, {
      method: init.method ?? (body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': init.contentType ?? 'application/json' }) },
      body,
    });
    const text = await response.text();
    let parsed: any;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, body: parsed, text };
  };
  const jobCount = async (who = tenant): Promise<number> => (await call('/deliveryJobs?limit=500', { tenant: who })).body.deliveryJobs.length;
  const commandsOf = async (jobId: string): Promise<any[]> => (await call(`/deliveryJobs/${jobId}/commands`)).body.commands;
  const createJob = async (clientIds: string[], data: unknown = { go: true }, who = tenant) => {
    const answer = await call('/deliveryJobs', { tenant: who, body: { name: 'n', clientIds, data } });
    assert.equal(answer.status, 201, answer.text);
    return answer.body;
  };
  const agent = async (cert: TestCertificate, id: string, who = tenant): Promise<{ client: MqttClient; log: MessageLog }> => {
    let log!: MessageLog;
    const client = await connectAgent(server, cert, id, { clean: true }, (c) => { log = new MessageLog(c); });
    resources.add(() => endClient(client));
    assert.deepEqual(await subackCodes(client, { [`tc/${who}/${id}/i/cmd_v3/c`]: { qos: 1 } }), [1]);
    return { client, log };
  };
  /** The command of this job as the agent received it (earlier tests' commands for it may come first). */
  const received = async (log: MessageLog, topic: string, jobId: string) => {
    const of = () => log.on(topic).map((m) => JSON.parse(m.payload.toString())).find((m) => m.data.jobId === jobId);
    await waitUntil(() => of() !== undefined, 5_000, `the command of job ${jobId}`);
    return of();
  };
  const update = (client: MqttClient, id: string, who: string, body: object, options: { qos?: 0 | 1 | 2; retain?: boolean } = {}) =>
    client.publishAsync(`tc/${who}/${id}/o/cmd_v3/u`, JSON.stringify(body), { qos: options.qos ?? 1, retain: options.retain ?? false });
  const report = (commandId: string, jobId: string, status: string, response: unknown = { ok: true }) =>
    ({ id: randomUUID(), requestId: commandId, data: { timestamp: new Date().toISOString(), jobId, status, response } });

  before(async () => {
    server = await startTestServer({ TRUSTGATE_COMMAND_SWEEP_MS: '200', TRUSTGATE_COMMAND_RESEND_MS: '1500' }, { logger: logs.logger });
    resources.add(() => server.close());
    tenant = newTenant('hc');
    otherTenant = newTenant('ho');
    const { ca } = await registerVerifiedCa(server, tenant);
    pumpCert = await issueAgent(ca, 'pump');
    valveCert = await issueAgent(ca, 'valve');
    pumpId = `${tenant}_pump`;
    valveId = `${tenant}_valve`;
    const foreign = await registerVerifiedCa(server, otherTenant);
    fanCert = await issueAgent(foreign.ca, 'fan');
    fanId = `${otherTenant}_fan`;
    for (const [cert, id] of [[pumpCert, pumpId], [valveCert, valveId], [fanCert, fanId]] as const) await endClient(await connectAgent(server, cert, id));
  });
  after(() => resources.closeAll());

  it('bad bodies on POST /deliveryJobs: a specific 4xx each, never a 5xx, and no job stored', async () => {
    const before = await jobCount();
    const body = (fields: object) => ({ body: { name: 'n', clientIds: [pumpId], data: {}, ...fields } });
    const cases: [string, Parameters<typeof call>[1], number, string][] = [
      ['0 ids', body({ clientIds: [] }), 400, 'deliveryJob.clientIdsEmpty'],
      ['21 ids', body({ clientIds: Array.from({ length: 21 }, (_, i) => `${tenant}_a${i}`) }), 400, 'deliveryJob.tooManyClientIds'],
      ['a duplicate id', body({ clientIds: [pumpId, valveId, pumpId] }), 400, 'deliveryJob.duplicateClientId'],
      ['an id of 257 characters', body({ clientIds: ['x'.repeat(257)] }), 400, 'deliveryJob.clientIdsInvalid'],
      ['an empty id', body({ clientIds: [''] }), 400, 'deliveryJob.clientIdsInvalid'],
      ['a number as id', body({ clientIds: [1] }), 400, 'request.invalid'],
      ['clientIds not an array', body({ clientIds: pumpId }), 400, 'request.invalid'],
      ['an id with NUL', body({ clientIds: [`${pumpId}\u0000`] }), 404, 'deliveryJob.agentNotFound'],
      ['an id with a wildcard', body({ clientIds: [`${tenant}_+`] }), 404, 'deliveryJob.agentNotFound'],
      ['11 kB of data', body({ data: 'x'.repeat(11 * 1024) }), 400, 'deliveryJob.dataTooLarge'],
      // 10 kB of "[[[[…]]]]": JSON.stringify overflows the stack (RangeError) at ~4,500 levels.
      ['data nested 5,000 deep', { raw: `{"name":"n","clientIds":["${pumpId}"],"data":${nestedText(5000)}}` }, 400, 'deliveryJob.dataTooDeep'],
      ['data nested 100 deep', body({ data: nested(100) }), 400, 'deliveryJob.dataTooDeep'],
      ['an empty name', body({ name: '' }), 400, 'deliveryJob.nameInvalid'],
      ['only white space', body({ name: ' \t ' }), 400, 'deliveryJob.nameInvalid'],
      ['129 characters', body({ name: 'n'.repeat(129) }), 400, 'deliveryJob.nameInvalid'],
      ['a NUL in the name', body({ name: 'a\u0000b' }), 400, 'deliveryJob.nameInvalid'],
      ['a newline in the name', body({ name: 'a\nb' }), 400, 'deliveryJob.nameInvalid'],
      ['an ANSI escape in the name', body({ name: 'a\u001b[31mb' }), 400, 'deliveryJob.nameInvalid'],
      ['a C1 CSI in the name', body({ name: 'a\u009bb' }), 400, 'deliveryJob.nameInvalid'],
      ['a bidi override in the name', body({ name: 'pump\u202e1-' }), 400, 'deliveryJob.nameInvalid'],
      ['a name that is a number', body({ name: 1 }), 400, 'request.invalid'],
      ['no name', { body: { clientIds: [pumpId], data: {} } }, 400, 'request.invalid'],
      ['no data', { body: { name: 'n', clientIds: [pumpId] } }, 400, 'request.invalid'],
      ['an extra field', body({ status: 'EXECUTED' }), 400, 'request.invalid'],
      ['a body that is an array', { raw: '[]' }, 400, 'request.invalid'],
      ['a body that is null', { raw: 'null' }, 400, 'request.invalid'],
      ['broken JSON', { raw: '{"name":' }, 400, 'request.malformedJson'],
    ];
    for (const [what, init, status, code] of cases) {
      const answer = await call('/deliveryJobs', init);
      assert.ok(answer.status < 500, `${what}: ${answer.status} ${answer.text}`);
      assertError(answer, status, code);
    }
    const wrongType = await call('/deliveryJobs', { raw: 'name=n', contentType: 'application/x-www-form-urlencoded' });
    assert.equal(wrongType.status, 415, wrongType.text);
    const empty = await call('/deliveryJobs', { raw: '' });
    assert.equal(empty.status, 400, empty.text);
    assert.equal(await jobCount(), before, 'a refused POST stored a job');
    // What is allowed: data null, a string, a number, an array, 32 levels; a name with non-ASCII letters.
    for (const data of [null, 'text', 42, [1, 2], nested(32)]) await createJob([pumpId], data);
    assert.equal((await call('/deliveryJobs', body({ name: 'Pumpe \u00fcber \u{1f525}' }))).status, 201);
  });

  it('ids and cursors: wrong length or charset, another tenant\'s cursor, oversize cursors: 4xx, never 5xx', async () => {
    await createJob([pumpId]);
    await createJob([pumpId]);
    await createJob([fanId], {}, otherTenant);
    await createJob([fanId], {}, otherTenant);
    for (const id of ['x', '0'.repeat(23), '0'.repeat(25), 'G'.repeat(24), `${'0'.repeat(23)}%00`, '%2e%2e', 'A'.repeat(24), 'a'.repeat(2000)]) {
      for (const [path, method] of [[`/deliveryJobs/${id}`, 'GET'], [`/deliveryJobs/${id}/commands`, 'GET'], [`/deliveryJobs/${id}`, 'DELETE']] as const) {
        const answer = await call(path, { method });
        assert.ok(answer.status === 404 || answer.status === 400 || answer.status === 414, `${method} ${path}: ${answer.status} ${answer.text}`);
      }
    }
    const theirs = await call('/deliveryJobs?limit=1', { tenant: otherTenant });
    assert.ok(theirs.body.nextCursor);
    assertError(await call(`/deliveryJobs?limit=1&cursor=${theirs.body.nextCursor}`), 400, 'deliveryJob.cursorInvalid');
    // The same cursor rewritten to name this tenant is still refused only if its position is not ours: it is
    // a position (time, id), never a key into another tenant's rows, so at worst it pages our own jobs.
    const forged = Buffer.from(Buffer.from(theirs.body.nextCursor, 'base64url').toString().replace(otherTenant, tenant)).toString('base64url');
    const page = await call(`/deliveryJobs?limit=500&cursor=${forged}`);
    assert.equal(page.status, 200);
    assert.equal(page.body.deliveryJobs.every((job: any) => job.tenantId === tenant), true);
    for (const cursor of ['x'.repeat(513), 'x'.repeat(401), '%00', '!!!', Buffer.from(`v1|${tenant}|nope|${'0'.repeat(24)}`).toString('base64url'), Buffer.from('v1|'.repeat(100)).toString('base64url')]) {
      const answer = await call(`/deliveryJobs?cursor=${cursor}`);
      assert.equal(answer.status, 400, `${cursor.slice(0, 20)}: ${answer.text}`);
    }
    for (const limit of ['0', '501', '-1', '1.5', 'abc']) assertError(await call(`/deliveryJobs?limit=${limit}`), 400, 'deliveryJob.limitInvalid');
    assertError(await call(`/deliveryJobs?limit=${'9'.repeat(40)}`), 400, 'request.invalid');
  });

  it('an agent cannot subscribe to another agent\'s command topic (same tenant or another)', async () => {
    const { client } = await agent(pumpCert, pumpId);
    assert.deepEqual(await subackCodes(client, {
      [`tc/${tenant}/${valveId}/i/cmd_v3/c`]: { qos: 1 }, [`tc/${otherTenant}/${fanId}/i/cmd_v3/c`]: { qos: 1 }, [`tc/${tenant}/+/i/cmd_v3/c`]: { qos: 1 },
    }), [128, 128, 128]);
    await endClient(client);
  });

  it('updates: another agent\'s command, a canceled or final one, forged ids, QoS 2 and retained: nothing moves that must not', async () => {
    const { client: pump, log: pumpLog } = await agent(pumpCert, pumpId);
    const { client: fan } = await agent(fanCert, fanId, otherTenant);
    const pumpJob = await createJob([pumpId, valveId]);
    const command = await received(pumpLog, `tc/${tenant}/${pumpId}/i/cmd_v3/c`, pumpJob.id);
    const valveCommand = (await commandsOf(pumpJob.id)).find((c) => c.clientId === valveId);
    // The other tenant's agent names the pump's command and job, on its own topic; the pump names the valve's.
    await update(fan, fanId, otherTenant, report(command.id, pumpJob.id, 'FAILED'));
    await update(pump, pumpId, tenant, report(valveCommand.id, pumpJob.id, 'EXECUTED'));
    // Forged: a job id of the other tenant, an id that is no command, ids of 10,000 characters.
    await update(pump, pumpId, tenant, report('0'.repeat(24), pumpJob.id, 'EXECUTED'));
    await update(pump, pumpId, tenant, report('x'.repeat(10_000), 'y'.repeat(10_000), 'EXECUTED'));
    await waitUntil(() => logs.find('command update ignored', { clientId: pumpId }).length >= 3, 5_000, 'the pump\'s forged updates are ignored');
    assert.equal(logs.find('command update ignored', { clientId: fanId }).length >= 1, true);
    const statuses = Object.fromEntries((await commandsOf(pumpJob.id)).map((c) => [c.clientId, c.status]));
    assert.notEqual(statuses[valveId], 'EXECUTED');
    assert.notEqual(statuses[pumpId], 'FAILED');

    // Final: EXECUTED, then FAILED and EXECUTING are refused; a retained update is read once and never kept.
    await update(pump, pumpId, tenant, report(command.id, pumpJob.id, 'EXECUTED', { done: 1 }));
    await waitUntil(async () => (await commandsOf(pumpJob.id)).find((c) => c.clientId === pumpId).status === 'EXECUTED', 5_000, 'EXECUTED');
    await update(pump, pumpId, tenant, report(command.id, pumpJob.id, 'FAILED', { late: 1 }), { retain: true });
    await update(pump, pumpId, tenant, report(command.id, pumpJob.id, 'EXECUTING', { late: 2 }));
    // QoS 2 (the broker takes QoS 0 and 1 only): the connection closes, the update is not applied.
    pump.publish(`tc/${tenant}/${pumpId}/o/cmd_v3/u`, JSON.stringify(report(command.id, pumpJob.id, 'FAILED', { late: 3 })), { qos: 2 });
    assert.equal(await closesWithin(pump, 5_000), true, 'a QoS 2 update closed the connection');
    // A positive control after them: the valve's own EXECUTING (same connection order: updates are applied in turn).
    const { client: valve } = await agent(valveCert, valveId);
    await update(valve, valveId, tenant, report(valveCommand.id, pumpJob.id, 'EXECUTING'));
    await waitUntil(async () => (await commandsOf(pumpJob.id)).find((c) => c.clientId === valveId).status === 'EXECUTING', 5_000, 'the valve is EXECUTING');
    const pumpNow = (await commandsOf(pumpJob.id)).find((c) => c.clientId === pumpId);
    assert.equal(pumpNow.status, 'EXECUTED');
    assert.deepEqual(pumpNow.response, { done: 1 }, 'a refused update still replaced the response');

    // Canceled: a job for the pump (offline since its QoS 2), canceled; the pump's update for it changes nothing.
    const canceledJob = await createJob([pumpId]);
    const [canceledCommand] = await commandsOf(canceledJob.id);
    assert.equal((await call(`/deliveryJobs/${canceledJob.id}`, { method: 'DELETE' })).status, 200);
    const { client: pumpAgain } = await agent(pumpCert, pumpId);
    await update(pumpAgain, pumpId, tenant, report(canceledCommand.id, canceledJob.id, 'EXECUTED'));
    // The positive control on the same connection, after it (applied in turn).
    const control = await createJob([pumpId]);
    const [controlCommand] = await commandsOf(control.id);
    await update(pumpAgain, pumpId, tenant, report(controlCommand.id, control.id, 'FAILED'));
    await waitUntil(async () => (await commandsOf(control.id))[0].status === 'FAILED', 5_000, 'the control update applied');
    assert.equal((await commandsOf(canceledJob.id))[0].status, 'CANCELED');
    assert.equal((await call(`/deliveryJobs/${canceledJob.id}`)).body.status, 'CANCELED');
    await endClient(pumpAgain);
    await endClient(fan);
    await endClient(valve);
  });

  it('a deeply nested or huge response neither crashes the broker nor is stored beyond its bound', async () => {
    const { client, log } = await agent(pumpCert, pumpId);
    const job = await createJob([pumpId]);
    const command = await received(log, `tc/${tenant}/${pumpId}/i/cmd_v3/c`, job.id);
    // 120 kB of "[[[…]]]" (under the 128 KiB payload limit): JSON.stringify of it throws RangeError.
    const deep = `{"id":"${randomUUID()}","requestId":"${command.id}","data":{"jobId":"${job.id}","status":"EXECUTING","response":${'['.repeat(60_000)}${']'.repeat(60_000)}}}`;
    await client.publishAsync(`tc/${tenant}/${pumpId}/o/cmd_v3/u`, deep, { qos: 1 });
    await waitUntil(async () => (await commandsOf(job.id))[0].status === 'EXECUTING', 5_000, 'the deep update is applied, its response replaced');
    const [stored] = await commandsOf(job.id);
    assert.equal(stored.response.truncated, true);
    // Not UTF-8, and 100 kB of response: kept as a note of its size, the status still moves.
    const huge = Buffer.concat([Buffer.from(`{"id":"x","requestId":"${command.id}","data":{"jobId":"${job.id}","status":"EXECUTED","response":{"b":"`), Buffer.alloc(100_000, 0xff), Buffer.from('"}}}')]);
    await client.publishAsync(`tc/${tenant}/${pumpId}/o/cmd_v3/u`, huge, { qos: 1 });
    await waitUntil(async () => (await commandsOf(job.id))[0].status === 'EXECUTED', 5_000, 'EXECUTED');
    assert.equal((await commandsOf(job.id))[0].response.truncated, true);
    await endClient(client);
  });

  it('a flood of one repeated update costs one transaction, not one per copy (the SQLite connection is shared)', { timeout: 30_000 }, async () => {
    const { client, log } = await agent(valveCert, valveId);
    const job = await createJob([valveId]);
    const command = await received(log, `tc/${tenant}/${valveId}/i/cmd_v3/c`, job.id);
    const unknownId = 'f'.repeat(24);
    // 80 copies each (160, under the per-agent burst of 200): one unknown command, one real EXECUTING.
    await Promise.all(Array.from({ length: 80 }, () => update(client, valveId, tenant, report(unknownId, job.id, 'EXECUTED'), { qos: 0 })));
    await Promise.all(Array.from({ length: 80 }, () => update(client, valveId, tenant, report(command.id, job.id, 'EXECUTING'), { qos: 0 })));
    await update(client, valveId, tenant, report(command.id, job.id, 'EXECUTED', { last: true }));
    await waitUntil(async () => (await commandsOf(job.id))[0].status === 'EXECUTED', 5_000, 'the final update applied after the flood');
    assert.equal(logs.find('command update ignored', { clientId: valveId, commandId: unknownId }).length, 1);
    assert.equal(logs.find('command updated', { clientId: valveId, commandId: command.id, status: 'EXECUTING' }).length, 1);
    await endClient(client);
  });

  it('a tenant application may publish on an agent\'s i/cmd_v3/c (SPEC), but its copy never counts as the command\'s delivery', async () => {
    const topic = `tc/${tenant}/${pumpId}/i/cmd_v3/c`;
    let log!: MessageLog;
    const pump = await connectAgent(server, pumpCert, pumpId, { clean: false }, (c) => { log = new MessageLog(c); });
    resources.add(() => endClient(pump));
    await pump.subscribeAsync(topic, { qos: 1 });
    await pump.unsubscribeAsync(topic);
    // Published to nobody (as while a route is on its way); the same connection subscribes again.
    const job = await createJob([pumpId], { real: true });
    const [command] = await commandsOf(job.id);
    await pump.subscribeAsync(topic, { qos: 1 });
    const app = await connectApplication(server, tenant);
    resources.add(() => endClient(app));
    await app.publishAsync(topic, JSON.stringify({ id: command.id, data: { jobId: job.id, createdAt: new Date().toISOString(), payload: { forged: true } } }), { qos: 1 });
    await waitUntil(() => log.on(topic).some((m) => JSON.parse(m.payload.toString()).data.payload?.forged === true), 5_000, 'the forged copy arrives');
    // The real command still arrives (the sweep re-sends it) and only its PUBACK makes it DELIVERED.
    await waitUntil(() => log.on(topic).some((m) => JSON.parse(m.payload.toString()).data.payload?.real === true), 8_000, 'the real command arrives');
    await waitUntil(async () => (await commandsOf(job.id))[0].status === 'DELIVERED', 5_000, 'DELIVERED');
    await endClient(app);
    await endClient(pump);
  });

  it('a clean-session agent\'s PUBACK makes its command DELIVERED, so its next fresh session does not get it again', async () => {
    // aedes keeps no outgoing store for a clean session: its 'ack' came without the packet, so
    // DELIVERED was never recorded and every fresh session got all acknowledged commands again.
    const topic = `tc/${tenant}/${valveId}/i/cmd_v3/c`;
    const first = await agent(valveCert, valveId);
    const job = await createJob([valveId], { once: true });
    await received(first.log, topic, job.id);
    await waitUntil(async () => (await commandsOf(job.id))[0].status === 'DELIVERED', 5_000, 'DELIVERED after the PUBACK');
    await endClient(first.client);
    const second = await agent(valveCert, valveId);
    const control = await createJob([valveId], { control: true });
    await received(second.log, topic, control.id);
    assert.equal(second.log.on(topic).some((m) => JSON.parse(m.payload.toString()).data.jobId === job.id), false, 'the acknowledged command came again');
    await endClient(second.client);
  });
});
