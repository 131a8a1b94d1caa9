import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDomainError, type TenantId } from '../shared/index.ts';
import { InMemoryAuditTrail, type AuditEntry } from './audit-trail.ts';
import { decodeAuditCursor, encodeAuditCursor, listAuditEvents } from './list-audit-events.ts';

const acme = 'acme' as TenantId;
const at = new Date('2026-12-03T03:12:00.000Z');
const entry = (overrides: Partial<AuditEntry> = {}): AuditEntry => ({
  time: at, tenant: acme, actor: { type: 'token', id: 'ops' }, action: 'agent.deleted', target: 'agent:x', outcome: 'success', ...overrides,
});
const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return isDomainError(error) ? error.code : `not a DomainError: ${String(error)}`;
  }
};

describe('listAuditEvents', () => {
  it('a cursor round-trips for its tenant and is refused, with one code, for anything else', () => {
    const position = { time: at, id: 'ab'.repeat(12) };
    assert.deepEqual(decodeAuditCursor(acme, encodeAuditCursor(acme, position)), position);
    const hostile = [
      encodeAuditCursor('other' as TenantId, position), '', '=', '%', 'a'.repeat(401), Buffer.from('v1|acme|2026-12-03T03:12:00.000Z').toString('base64url'),
      Buffer.from('v1|acme|2026-12-03T03:12:00Z|' + 'ab'.repeat(12)).toString('base64url'), Buffer.from('v1|acme|NaN|' + 'ab'.repeat(12)).toString('base64url'),
      Buffer.from("v1|acme|2026-12-03T03:12:00.000Z|' OR 1=1").toString('base64url'), Buffer.from('v1|acme|2026-12-03T03:12:00.000Z|' + 'AB'.repeat(12)).toString('base64url'),
    ];
    for (const cursor of hostile) {
      assert.throws(() => decodeAuditCursor(acme, cursor), (error) => isDomainError(error) && error.code === 'auditEvent.cursorInvalid', cursor);
    }
  });

  it('checks every filter with its own code; a refused query reads nothing', async () => {
    const trail = new InMemoryAuditTrail();
    let reads = 0;
    const counting = { list: async (query: Parameters<InMemoryAuditTrail['list']>[0]) => { reads += 1; return trail.list(query); }, pruneBatch: trail.pruneBatch.bind(trail) };
    const cases: [Parameters<typeof listAuditEvents>[1], string][] = [
      [{ tenant: acme, since: '2026-12-03T03:12' }, 'auditEvent.sinceInvalid'],
      [{ tenant: acme, since: '2026-02-29' }, 'auditEvent.sinceInvalid'],
      [{ tenant: acme, until: '2026-12-03T23:60:00Z' }, 'auditEvent.untilInvalid'],
      [{ tenant: acme, since: '2026-12-03', until: '2026-12-03' }, 'auditEvent.untilInvalid'],
      [{ tenant: acme, action: 'agent.*' }, 'auditEvent.actionInvalid'],
      [{ tenant: acme, limit: 1001 }, 'auditEvent.limitInvalid'],
      [{ tenant: acme, limit: '10.5' }, 'auditEvent.limitInvalid'],
      [{ tenant: acme, limit: 0 }, 'auditEvent.limitInvalid'],
    ];
    for (const [input, code] of cases) assert.equal(await codeOf(listAuditEvents(counting, input)), code, JSON.stringify(input));
    assert.equal(reads, 0);
    assert.equal(await codeOf(listAuditEvents(counting, { tenant: acme, since: '2024-02-29T23:59:59.999+01:00', limit: '1000' })), 'ok', 'a leap day and an offset are fine');
  });

  it('pages newest first, ties by id, with a next cursor only when more remain', async () => {
    const trail = new InMemoryAuditTrail();
    for (let i = 0; i < 5; i++) await trail.record(entry({ target: `agent:${i}` }));
    await trail.record(entry({ time: new Date(at.getTime() + 1), target: 'agent:newest' }));
    const first = await listAuditEvents(trail, { tenant: acme, limit: 4 });
    assert.deepEqual(first.auditEvents.map((e) => e.target), ['agent:newest', 'agent:4', 'agent:3', 'agent:2']);
    const second = await listAuditEvents(trail, { tenant: acme, limit: 4, cursor: first.nextCursor });
    assert.deepEqual(second.auditEvents.map((e) => e.target), ['agent:1', 'agent:0']);
    assert.equal(second.nextCursor, undefined);
  });
});
