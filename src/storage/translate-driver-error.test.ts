import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError, isDomainError } from '../shared/index.ts';
import { isDatabaseUnreachable, isRetryableConflict, translateDriverError, uniqueViolation } from './translate-driver-error.ts';

const withCode = (code: string, message = 'driver error', extra: Record<string, unknown> = {}): Error =>
  Object.assign(new Error(message), { code, ...extra });

describe('translateDriverError', () => {
  const unreachable: [string, unknown][] = [
    ['connection refused', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['connection reset', withCode('ECONNRESET', 'read ECONNRESET')],
    ['connect timed out', withCode('ETIMEDOUT')],
    ['host unreachable', withCode('EHOSTUNREACH')],
    ['DNS failure', withCode('EAI_AGAIN')],
    ['every address refused (Node\'s AggregateError)', new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], 'connect failed')],
    ['admin shutdown 57P01', withCode('57P01', 'terminating connection due to administrator command')],
    ['crash shutdown 57P02', withCode('57P02')],
    ['starting up 57P03', withCode('57P03', 'the database system is starting up')],
    ['too many connections 53300', withCode('53300')],
    ['connection exception 08006', withCode('08006')],
    ['connection does not exist 08003', withCode('08003')],
    ['pool timeout', new Error('timeout exceeded when trying to connect')],
    ['connection lost', new Error('Connection terminated unexpectedly')],
    ['connect timeout', new Error('Connection terminated due to connection timeout')],
    ['broken client', new Error('Client has encountered a connection error and is not queryable')],
    ['wrapped', new Error('query failed', { cause: withCode('ECONNREFUSED') })],
  ];
  for (const [name, error] of unreachable) {
    it(`unreachable: ${name} → storage.unavailable (503), the driver error kept as cause`, () => {
      assert.equal(isDatabaseUnreachable(error), true);
      const translated = translateDriverError(error);
      assert.ok(isDomainError(translated));
      assert.equal(translated.code, 'storage.unavailable');
      assert.equal(translated.cause, error);
      assert.doesNotMatch(translated.message, /5432|127\.0\.0\.1/, 'no internals in what an API client reads');
    });
  }

  const others: [string, unknown][] = [
    ['unique violation', withCode('23505', 'duplicate key', { constraint: 'x' })],
    ['SQLite unique violation', withCode('ERR_SQLITE_ERROR', 'UNIQUE constraint failed', { errcode: 2067 })],
    ['SQLite busy', withCode('ERR_SQLITE_ERROR', 'database is locked', { errcode: 5 })],
    ['syntax error', withCode('42601')],
    ['wrong password', withCode('28P01')],
    ['unknown database', withCode('3D000')],
    ['a message mentioning a timeout, with a code', withCode('57014', 'canceling statement due to statement timeout')],
    ['not an error', 'Connection terminated'],
    ['null', null],
    ['an AggregateError of other errors', new AggregateError([withCode('ECONNREFUSED'), withCode('42601')])],
  ];
  for (const [name, error] of others) {
    it(`left alone: ${name}`, () => {
      assert.equal(isDatabaseUnreachable(error), false);
      assert.equal(translateDriverError(error), error);
    });
  }

  it('a value too long for its column (PostgreSQL 22001): 400 request.invalid', () => {
    const translated = translateDriverError(withCode('22001', 'value too long for type character varying(128)'));
    assert.ok(isDomainError(translated));
    assert.equal(translated.code, 'request.invalid');
  });

  it('leaves a DomainError as it is', () => {
    const error = new DomainError('caCertificate.duplicate', 'x', { cause: withCode('ECONNREFUSED') });
    assert.equal(translateDriverError(error), error);
  });
});

describe('uniqueViolation and isRetryableConflict', () => {
  it('name the violated constraint on both dialects', () => {
    assert.equal(uniqueViolation(withCode('23505', 'duplicate key', { constraint: 'agents_tenant_client_id_unique' })), 'agents_tenant_client_id_unique');
    assert.match(uniqueViolation(withCode('ERR_SQLITE_ERROR', 'UNIQUE constraint failed: agents.tenant_id', { errcode: 2067 })) ?? '', /agents\.tenant_id/);
    assert.equal(uniqueViolation(withCode('ECONNREFUSED')), undefined);
  });

  it('retry serialization failures and deadlocks only', () => {
    assert.equal(isRetryableConflict(withCode('40001')), true);
    assert.equal(isRetryableConflict(withCode('40P01')), true);
    assert.equal(isRetryableConflict(withCode('23505')), false);
    assert.equal(isRetryableConflict(undefined), false);
  });
});
