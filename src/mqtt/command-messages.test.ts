import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CanceledCommands } from './canceled-commands.ts';
import { commandPayloadOf, isCommandTopic, isCommandUpdateTopic, MAX_RESPONSE_BYTES, parseCommandUpdate } from './command-messages.ts';

// The commanding payloads (SPEC "MindConnect commanding"; MindConnect's sample agent) and the
// forward filter: hostile and malformed updates are ignored with a reason, never thrown.

describe('parseCommandUpdate', () => {
  const update = (message: unknown) => parseCommandUpdate(Buffer.from(JSON.stringify(message)));

  it('reads the sample agent\'s update (a new id, the command id as requestId) and SPEC\'s (the command id as id)', () => {
    assert.deepEqual(update({ id: 'u-1', requestId: 'c-1', data: { timestamp: '2026-12-03T10:00:00.000000Z', jobId: 'j-1', status: 'EXECUTED', response: { message: 'ok' } } }),
      { commandId: 'c-1', jobId: 'j-1', status: 'EXECUTED', responseJson: '{"message":"ok"}', timestamp: '2026-12-03T10:00:00.000000Z' });
    assert.equal((update({ id: 'c-2', data: { jobId: 'j-1', status: 'EXECUTING' } }) as { commandId: string }).commandId, 'c-2');
  });

  it('ignores, with a reason, what is not an update', () => {
    const cases: unknown[] = [
      'not json', null, [], { id: 'c' }, { id: 'c', data: [] }, { data: { jobId: 'j', status: 'EXECUTED' } },
      { id: '', data: { jobId: 'j', status: 'EXECUTED' } }, { id: 'x'.repeat(257), data: { jobId: 'j', status: 'EXECUTED' } },
      { id: 'c', data: { status: 'EXECUTED' } }, { id: 'c', data: { jobId: 5, status: 'EXECUTED' } },
      { id: 'c', data: { jobId: 'j', status: 'DELIVERED' } }, { id: 'c', data: { jobId: 'j', status: 'CANCELED' } }, { id: 'c', data: { jobId: 'j', status: 'executed' } },
      { id: 'c', requestId: 7, data: { jobId: 'j', status: 'EXECUTED' } },
    ];
    for (const message of cases) {
      const parsed = typeof message === 'string' ? parseCommandUpdate(Buffer.from(message)) : update(message);
      assert.ok('ignored' in parsed, JSON.stringify(message));
    }
  });

  it('keeps a response up to the bound and replaces a larger one by a note', () => {
    const big = update({ id: 'c', data: { jobId: 'j', status: 'FAILED', response: { blob: 'x'.repeat(MAX_RESPONSE_BYTES) } } }) as { responseJson: string };
    assert.deepEqual(JSON.parse(big.responseJson), { truncated: true, bytes: MAX_RESPONSE_BYTES + '{"blob":""}'.length });
  });

  it('replaces a response too deep to serialize by a note of the payload\'s size, never throws (review: RangeError lost the update)', () => {
    const payload = Buffer.from(`{"id":"c","data":{"jobId":"j","status":"EXECUTED","response":${'['.repeat(60_000)}${']'.repeat(60_000)}}}`);
    const deep = parseCommandUpdate(payload) as { status: string; responseJson: string };
    assert.equal(deep.status, 'EXECUTED');
    assert.deepEqual(JSON.parse(deep.responseJson), { truncated: true, bytes: payload.length });
    const shallow = update({ id: 'c', data: { jobId: 'j', status: 'EXECUTED', response: JSON.parse(`${'['.repeat(64)}${']'.repeat(64)}`) } }) as { responseJson: string };
    assert.equal(shallow.responseJson, `${'['.repeat(64)}${']'.repeat(64)}`);
  });

  it('tells the topics apart, one level each', () => {
    assert.equal(isCommandTopic('tc/acme/acme_pump/i/cmd_v3/c'), true);
    assert.equal(isCommandTopic('tc/acme/acme_pump/i/cmd_v3/c/x'), false);
    assert.equal(isCommandTopic('tc/acme/a/b/i/cmd_v3/c'), false);
    assert.equal(isCommandUpdateTopic('tc/acme/acme_pump/o/cmd_v3/u'), true);
    assert.equal(isCommandUpdateTopic('tc/acme/acme_pump/i/cmd_v3/u'), false);
  });
});

describe('CanceledCommands (the forward filter)', () => {
  const createdAt = new Date('2026-12-03T10:00:00.000Z');
  const packet = (id: string, at = createdAt) => ({
    topic: 'tc/acme/acme_pump/i/cmd_v3/c',
    payload: commandPayloadOf({ id, jobId: 'j', tenant: 'acme' as never, clientId: 'acme_pump', createdAt: at, payload: {} }),
  });

  it('drops a canceled command and one older than the expiry; lets others, and other topics, through', () => {
    const canceled = new CanceledCommands(60_000);
    const now = createdAt.getTime() + 1000;
    canceled.add(['c-1'], now);
    assert.equal(canceled.isCanceledCommand(packet('c-1'), now), true);
    assert.equal(canceled.isCanceledCommand(packet('c-2'), now), false);
    assert.equal(canceled.isCanceledCommand(packet('c-2'), createdAt.getTime() + 60_000), true, 'expired by age');
    assert.equal(canceled.isCanceledCommand({ ...packet('c-1'), topic: 'tc/acme/acme_pump/i/other' }, now), false);
    assert.equal(canceled.isCanceledCommand({ topic: packet('c-1').topic, payload: Buffer.from('hand-made, not JSON') }, now), false);
    // Forgotten after the expiry: by then the age rule drops its copies.
    canceled.prune(now + 60_001);
    assert.equal(canceled.has('c-1'), false);
    assert.equal(canceled.isCanceledCommand(packet('c-1'), now + 60_001), true);
  });
});
