import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import type { Kysely } from 'kysely';
import { describeOn, openTestDatabase, testDialects } from '../../test/support/test-databases.ts';
import { createCommanding, MAX_COMMANDS_PER_CLAIM, type Commanding, type CommandDispatch } from '../registry/index.ts';
import { DomainError, type TenantId } from '../shared/index.ts';
import { KyselyDeliveryJobStore } from './kysely-delivery-job-store.ts';
import type { Database } from './tables.ts';

const acme = 'acme' as TenantId;
const other = 'other' as TenantId;
const agents: Record<string, readonly string[]> = { acme: ['acme_a', 'acme_b', ...Array.from({ length: 25 }, (_, i) => `acme_n${i}`)], other: ['other_x'] };
const context = { actor: { type: 'token' as const, id: 'ops@acme' } };

const rejection = async (work: Promise<unknown>): Promise<DomainError> => {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof DomainError, String(error));
    return error;
  }
  assert.fail('expected a DomainError');
};

// Migration 0012, the delivery job store and the Commanding use cases on both dialects: the
// rules of issue 19 part 2 (inputs, tenant walls, conditional status moves, cancel, expiry).
for (const dialect of testDialects) describeOn(dialect)(`KyselyDeliveryJobStore on ${dialect}`, () => {
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  let store: KyselyDeliveryJobStore;
  let commanding: Commanding;
  let now: Date;
  const dispatched: { created: string[][]; canceled: string[][] } = { created: [], canceled: [] };
  beforeEach(async () => {
    ({ db, close } = await openTestDatabase(dialect));
    store = new KyselyDeliveryJobStore(db);
    now = new Date('2026-12-03T10:00:00.000Z');
    dispatched.created = [];
    dispatched.canceled = [];
    const dispatch: CommandDispatch = {
      created: async (_tenant, ids) => { dispatched.created.push([...ids]); },
      canceled: async (ids) => { dispatched.canceled.push([...ids]); },
    };
    commanding = createCommanding({
      jobs: store, clock: { now: () => now }, commandExpiryMs: 60_000, dispatch,
      isAgentClientId: async (tenant, clientId) => agents[tenant]?.includes(clientId) === true,
    });
  });
  afterEach(async () => { await close(); });

  it('creates a job with one PENDING command per client id, written with its audit event, and hands the commands to the dispatch', async () => {
    const job = await commanding.createDeliveryJob({ tenant: acme, name: 'start', clientIds: ['acme_a', 'acme_b'], data: { execute_command: 'START' } }, context);
    assert.equal(job.status, 'EXECUTING');
    assert.deepEqual((await commanding.findDeliveryJob(acme, job.id)).data, { execute_command: 'START' });
    const commands = await commanding.listJobCommands(acme, job.id);
    assert.deepEqual(commands.map((c) => [c.clientId, c.status]), [['acme_a', 'PENDING'], ['acme_b', 'PENDING']]);
    assert.deepEqual(dispatched.created, [commands.map((c) => c.id)]);
    const audit = await db.selectFrom('audit_events').selectAll().execute();
    assert.deepEqual(audit.map((row) => [row.action, row.target, row.actor_id]), [['deliveryJob.created', `deliveryJob:${job.id}`, 'ops@acme']]);
  });

  it('refuses bad input with its own code and stores nothing; a foreign client id is answered exactly like an unknown one', async () => {
    const cases: [unknown, unknown, unknown, string][] = [
      ['n', [], {}, 'deliveryJob.clientIdsEmpty'],
      ['n', agents.acme!.slice(0, 21), {}, 'deliveryJob.tooManyClientIds'],
      ['n', ['acme_a', 'acme_a'], {}, 'deliveryJob.duplicateClientId'],
      ['n', ['acme_a', 5], {}, 'deliveryJob.clientIdsInvalid'],
      ['n', ['acme_a'], { blob: 'x'.repeat(11 * 1024) }, 'deliveryJob.dataTooLarge'],
      ['n', ['acme_a'], undefined, 'deliveryJob.dataMissing'],
      ['', ['acme_a'], {}, 'deliveryJob.nameInvalid'],
      ['   ', ['acme_a'], {}, 'deliveryJob.nameInvalid'],
      ['x'.repeat(129), ['acme_a'], {}, 'deliveryJob.nameInvalid'],
      // Review (issue 19 part 2): what JSON.stringify cannot serialize (RangeError, once a 500), and
      // names a terminal would act on (`trustgate command list` prints them).
      ['n', ['acme_a'], JSON.parse(`${'['.repeat(5000)}${']'.repeat(5000)}`), 'deliveryJob.dataTooDeep'],
      ['n', ['acme_a'], JSON.parse(`${'{"a":'.repeat(65)}1${'}'.repeat(65)}`), 'deliveryJob.dataTooDeep'],
      ['a\u0000b', ['acme_a'], {}, 'deliveryJob.nameInvalid'],
      ['a\nb', ['acme_a'], {}, 'deliveryJob.nameInvalid'],
      ['a\u001b[2Jb', ['acme_a'], {}, 'deliveryJob.nameInvalid'],
      ['a\u009bb', ['acme_a'], {}, 'deliveryJob.nameInvalid'],
      ['pump\u202e1-', ['acme_a'], {}, 'deliveryJob.nameInvalid'],
      ['a\u200bb', ['acme_a'], {}, 'deliveryJob.nameInvalid'],
    ];
    for (const [name, clientIds, data, code] of cases) {
      assert.equal((await rejection(commanding.createDeliveryJob({ tenant: acme, name, clientIds, data }))).code, code);
    }
    const foreign = await rejection(commanding.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['other_x'], data: {} }));
    const unknown = await rejection(commanding.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['other_y'], data: {} }));
    assert.equal(foreign.code, 'deliveryJob.agentNotFound');
    assert.equal(foreign.message.replace('other_x', 'ID'), unknown.message.replace('other_y', 'ID'));
    assert.equal((await db.selectFrom('delivery_jobs').selectAll().execute()).length, 0);
    // 20 distinct ids and exactly 10 KiB of data are fine.
    const data = { b: 'x'.repeat(10 * 1024 - 8) };
    assert.equal(JSON.stringify(data).length, 10 * 1024);
    await commanding.createDeliveryJob({ tenant: acme, name: 'x'.repeat(128), clientIds: agents.acme!.slice(0, 20), data });
  });

  it('lists newest first a page at a time, per tenant; another tenant\'s job is not found', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      now = new Date(now.getTime() + (i === 3 ? 0 : 1000));
      ids.push((await commanding.createDeliveryJob({ tenant: acme, name: `j${i}`, clientIds: ['acme_a'], data: i })).id);
    }
    const theirs = await commanding.createDeliveryJob({ tenant: other, name: 'theirs', clientIds: ['other_x'], data: {} });
    const first = await commanding.listDeliveryJobs({ tenant: acme, limit: '2' });
    const second = await commanding.listDeliveryJobs({ tenant: acme, limit: 2, cursor: first.nextCursor });
    const third = await commanding.listDeliveryJobs({ tenant: acme, limit: 2, cursor: second.nextCursor });
    const listed = [...first.deliveryJobs, ...second.deliveryJobs, ...third.deliveryJobs].map((job) => job.name);
    assert.deepEqual([...listed].sort(), ['j0', 'j1', 'j2', 'j3', 'j4']);
    assert.equal(listed[0], 'j4');
    assert.equal(third.nextCursor, undefined);
    assert.equal((await rejection(commanding.findDeliveryJob(acme, theirs.id))).code, 'deliveryJob.notFound');
    assert.equal((await rejection(commanding.listJobCommands(acme, theirs.id))).code, 'deliveryJob.notFound');
    assert.equal((await rejection(commanding.cancelDeliveryJob(acme, theirs.id))).code, 'deliveryJob.notFound');
    assert.equal((await rejection(commanding.listDeliveryJobs({ tenant: other, cursor: first.nextCursor }))).code, 'deliveryJob.cursorInvalid');
    assert.equal((await rejection(commanding.listDeliveryJobs({ tenant: acme, limit: '0' }))).code, 'deliveryJob.limitInvalid');
    assert.equal((await store.find(other, theirs.id))?.status, 'EXECUTING');
  });

  it('claims a command for sending once; a fresh session claims what was sent before it; PUBACK moves it to DELIVERED once', async () => {
    const job = await commanding.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: { x: 1 } });
    const [command] = await store.listCommands(acme, job.id);
    const [a, b] = await Promise.all([store.claimNew(acme, [command!.id], now), store.claimForSending(acme, 'acme_a', now)]);
    assert.equal(a.length + b.length, 1);
    assert.deepEqual([...a, ...b][0]!.payload, { x: 1 });
    assert.deepEqual(await store.claimForSending(acme, 'acme_a', now), []);
    now = new Date(now.getTime() + 1000);
    assert.equal((await store.claimForSending(acme, 'acme_a', now, now)).length, 1);
    assert.equal(await store.markDelivered(other, 'acme_a', command!.id, now), false);
    assert.equal(await store.markDelivered(acme, 'acme_b', command!.id, now), false);
    assert.equal(await store.markDelivered(acme, 'acme_a', command!.id, now), true);
    assert.equal(await store.markDelivered(acme, 'acme_a', command!.id, now), false);
    assert.deepEqual(await store.claimForSending(acme, 'acme_a', now, new Date(now.getTime() + 1)), []);
  });

  it('applies agent updates forward only, for this tenant, client id and job; the job ends EXECUTED or FAILED', async () => {
    const job = await commanding.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a', 'acme_b'], data: {} });
    const [ca, cb] = await store.listCommands(acme, job.id);
    const update = (commandId: string, status: 'EXECUTING' | 'EXECUTED' | 'FAILED', over: Partial<{ tenant: TenantId; clientId: string; jobId: string }> = {}) =>
      store.applyAgentUpdate({ tenant: acme, clientId: 'acme_a', jobId: job.id, commandId, status, responseJson: JSON.stringify({ s: status }), agentTimestamp: '2026-12-03T10:00:01Z', at: now, ...over });
    assert.equal(await update(ca!.id, 'EXECUTED', { tenant: other }), 'unknown');
    assert.equal(await update(ca!.id, 'EXECUTED', { clientId: 'acme_b' }), 'unknown');
    assert.equal(await update(ca!.id, 'EXECUTED', { jobId: '0'.repeat(24) }), 'unknown');
    assert.equal(await update(ca!.id, 'EXECUTING'), 'applied');
    assert.equal(await update(ca!.id, 'EXECUTED'), 'applied');
    assert.equal(await update(ca!.id, 'EXECUTING'), 'unchanged');
    assert.equal(await update(ca!.id, 'FAILED'), 'unchanged');
    const after = (await store.listCommands(acme, job.id))[0]!;
    assert.equal(after.status, 'EXECUTED');
    assert.deepEqual(after.response, { s: 'EXECUTED' });
    assert.ok(after.deliveredAt);
    assert.equal((await store.find(acme, job.id))?.status, 'EXECUTING');
    assert.equal(await update(cb!.id, 'FAILED', { clientId: 'acme_b' }), 'applied');
    assert.equal((await store.find(acme, job.id))?.status, 'FAILED');
  });

  it('cancels undelivered commands only; the job stays readable as CANCELED; canceled ids are listed for the forward filter', async () => {
    const job = await commanding.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a', 'acme_b'], data: {} });
    const [ca, cb] = await store.listCommands(acme, job.id);
    await store.markDelivered(acme, 'acme_a', ca!.id, now);
    assert.equal((await store.claimNew(acme, [cb!.id], now)).length, 1);
    const canceled = await commanding.cancelDeliveryJob(acme, job.id, context);
    assert.equal(canceled.status, 'CANCELED');
    assert.deepEqual(dispatched.canceled, [[cb!.id]]);
    assert.deepEqual((await store.listCommands(acme, job.id)).map((c) => c.status), ['DELIVERED', 'CANCELED']);
    assert.deepEqual(await store.claimForSending(acme, 'acme_b', now, new Date(now.getTime() + 1)), []);
    assert.equal(await store.markDelivered(acme, 'acme_b', cb!.id, now), false);
    assert.deepEqual(await store.canceledCommandIdsSince(now, 100), [cb!.id]);
    assert.deepEqual(await store.canceledCommandIdsFor(acme, 'acme_b', now, 100), [cb!.id]);
    // The delivered command still reports; the job stays CANCELED. A second DELETE changes nothing.
    assert.equal(await store.applyAgentUpdate({ tenant: acme, clientId: 'acme_a', jobId: job.id, commandId: ca!.id, status: 'EXECUTED', responseJson: undefined, agentTimestamp: undefined, at: now }), 'applied');
    assert.equal((await commanding.cancelDeliveryJob(acme, job.id)).status, 'CANCELED');
    assert.equal((await commanding.findDeliveryJob(acme, job.id)).status, 'CANCELED');
    assert.deepEqual((await db.selectFrom('audit_events').select('action').execute()).map((row) => row.action).sort(), ['deliveryJob.canceled', 'deliveryJob.created']);
  });

  it('expires undelivered commands after the expiry; the job FAILS; a delivered one is not expired', async () => {
    const job = await commanding.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a', 'acme_b'], data: {} });
    const [ca] = await store.listCommands(acme, job.id);
    await store.markDelivered(acme, 'acme_a', ca!.id, now);
    assert.equal(await store.expire(new Date(now.getTime() + 59_000), 100), 0);
    const at = new Date(now.getTime() + 60_000);
    assert.deepEqual(await store.claimForSending(acme, 'acme_b', at), []);
    assert.equal(await store.expire(at, 100), 1);
    assert.deepEqual((await store.listCommands(acme, job.id)).map((c) => c.status), ['DELIVERED', 'EXPIRED']);
    await store.applyAgentUpdate({ tenant: acme, clientId: 'acme_a', jobId: job.id, commandId: ca!.id, status: 'EXECUTED', responseJson: undefined, agentTimestamp: undefined, at: now });
    assert.equal((await store.find(acme, job.id))?.status, 'FAILED');
  });

  it('lists for the forward filter only canceled commands that were published, the newest `limit`, oldest first', async () => {
    const jobs = [];
    for (let i = 0; i < 3; i += 1) {
      now = new Date(now.getTime() + 1000);
      jobs.push(await commanding.createDeliveryJob({ tenant: acme, name: `n${i}`, clientIds: ['acme_a'], data: {} }));
    }
    const ids = [];
    for (const job of jobs) ids.push((await store.listCommands(acme, job.id))[0]!.id);
    await store.claimNew(acme, [ids[0]!, ids[2]!], now);
    const start = now;
    for (const job of jobs) {
      now = new Date(now.getTime() + 1000);
      await commanding.cancelDeliveryJob(acme, job.id);
    }
    assert.deepEqual(dispatched.canceled, [[ids[0]], [ids[2]]], 'the canceling node\'s own filter gets the published ones only');
    assert.deepEqual(await store.canceledCommandIdsSince(start, 100), [ids[0], ids[2]], 'the never-sent one is in no queue');
    assert.deepEqual(await store.canceledCommandIdsSince(start, 1), [ids[2]]);
    assert.deepEqual(await store.canceledCommandIdsFor(acme, 'acme_a', now, 100), [ids[0], ids[2]]);
    assert.deepEqual(await store.canceledCommandIdsFor(other, 'acme_a', now, 100), []);
  });

  it('refuses a job (409 agentBacklogFull, nothing stored) when one of its agents already has the maximum of undelivered commands', async () => {
    const capped = createCommanding({
      jobs: store, clock: { now: () => now }, commandExpiryMs: 60_000, maxPendingPerAgent: 2,
      isAgentClientId: async (tenant, clientId) => agents[tenant]?.includes(clientId) === true,
    });
    const first = await capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: {} });
    await capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: {} });
    const refused = await rejection(capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_b', 'acme_a'], data: {} }));
    assert.equal(refused.code, 'deliveryJob.agentBacklogFull');
    assert.match(refused.message, /acme_a.*\b2\b/);
    assert.equal((await store.list(acme, undefined, 10)).length, 2, 'nothing stored, not even acme_b\'s command');
    // Another tenant's agent of the same client id (and other agents) are not affected.
    await capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_b'], data: {} });
    // A delivered (PUBACKed) command no longer counts; a SENT one still does.
    const [command] = await store.listCommands(acme, first.id);
    await store.claimNew(acme, [command!.id], now);
    assert.equal((await rejection(capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: {} }))).code, 'deliveryJob.agentBacklogFull');
    await store.markDelivered(acme, 'acme_a', command!.id, now);
    await capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: {} });
    // Expired commands do not count either.
    now = new Date(now.getTime() + 60_000);
    await capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: {} });
  });

  it('lets exactly one of several concurrent creates take an agent\'s last slot', async () => {
    const capped = createCommanding({
      jobs: store, clock: { now: () => now }, commandExpiryMs: 60_000, maxPendingPerAgent: 3,
      isAgentClientId: async (tenant, clientId) => agents[tenant]?.includes(clientId) === true,
    });
    await capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: {} });
    await capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: {} });
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => capped.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: {} })));
    assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1);
    for (const outcome of outcomes) if (outcome.status === 'rejected') assert.equal((outcome.reason as DomainError).code, 'deliveryJob.agentBacklogFull');
    const pending = await db.selectFrom('delivery_commands').select('id').where('client_id', '=', 'acme_a').execute();
    assert.equal(pending.length, 3);
  });

  it('claims at most MAX_COMMANDS_PER_CLAIM commands at once; the next claim takes the rest', async () => {
    const job = { id: 'f'.repeat(24), tenant: acme, name: 'bulk', clientIds: ['acme_a'], data: {}, status: 'EXECUTING' as const, createdBy: 'system', createdAt: now, updatedAt: now };
    const commands = Array.from({ length: MAX_COMMANDS_PER_CLAIM + 20 }, (_, i) => ({
      id: `c${String(i).padStart(23, '0')}`, jobId: job.id, tenant: acme, clientId: 'acme_a', status: 'PENDING' as const, createdAt: now, updatedAt: now,
      expiresAt: new Date(now.getTime() + 60_000), sentAt: undefined, deliveredAt: undefined, response: undefined, agentTimestamp: undefined,
    }));
    await store.insert(job, commands);
    assert.equal((await store.claimForSending(acme, 'acme_a', now)).length, MAX_COMMANDS_PER_CLAIM);
    assert.equal((await store.claimForSending(acme, 'acme_a', now)).length, 20);
  });

  it('prunes, in batches, jobs with nothing left to happen and no change since the retention cut-off; never one still waiting', async () => {
    const settled = [];
    for (let i = 0; i < 3; i += 1) {
      const job = await commanding.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_a'], data: {} });
      const [command] = await store.listCommands(acme, job.id);
      await store.markDelivered(acme, 'acme_a', command!.id, now);
      await store.applyAgentUpdate({ tenant: acme, clientId: 'acme_a', jobId: job.id, commandId: command!.id, status: 'EXECUTED', responseJson: undefined, agentTimestamp: undefined, at: now });
      settled.push(job.id);
    }
    const silent = await commanding.createDeliveryJob({ tenant: other, name: 'n', clientIds: ['other_x'], data: {} });
    await store.markDelivered(other, 'other_x', (await store.listCommands(other, silent.id))[0]!.id, now);
    const waiting = await commanding.createDeliveryJob({ tenant: acme, name: 'n', clientIds: ['acme_b', 'acme_a'], data: {} });
    const [waitingA] = await store.listCommands(acme, waiting.id);
    await store.markDelivered(acme, 'acme_a', waitingA!.id, now);
    assert.equal(await store.pruneSettled(now, 100), 0, 'nothing older than the cut-off');
    const later = new Date(now.getTime() + 1);
    assert.equal(await store.pruneSettled(later, 2), 2);
    assert.equal(await store.pruneSettled(later, 2), 2, 'the third settled job and the delivered-but-silent one');
    assert.equal(await store.pruneSettled(later, 2), 0);
    for (const id of settled) assert.equal(await store.find(acme, id), undefined);
    assert.equal(await store.find(other, silent.id), undefined);
    assert.equal((await store.find(acme, waiting.id))?.status, 'EXECUTING', 'acme_b\'s command is still PENDING');
    assert.equal((await store.listCommands(acme, waiting.id)).length, 2);
    assert.equal((await db.selectFrom('delivery_commands').select('id').execute()).length, 2);
  });
});
