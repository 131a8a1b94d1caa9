import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DomainError } from '../shared/index.ts';
import { CliError, describeFailure, EXIT, exitCodeForHttp, exitCodeTableMarkdown } from './cli-error.ts';

describe('CLI exit codes', () => {
  test('one distinct code per class, none of them 0', () => {
    const codes = Object.values(EXIT);
    assert.equal(new Set(codes).size, codes.length);
    assert.ok(!codes.includes(0 as never));
  });

  test('docs/cli.md holds the exit code table verbatim', async () => {
    const doc = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'cli.md'), 'utf8');
    assert.ok(doc.includes(exitCodeTableMarkdown()), `docs/cli.md must contain this table verbatim:\n${exitCodeTableMarkdown()}`);
  });

  test('HTTP answers map to the class a person acts on', () => {
    assert.equal(exitCodeForHttp(401, 'auth.tokenExpired'), EXIT.noPermission);
    assert.equal(exitCodeForHttp(403, 'auth.scopeMissing'), EXIT.noPermission);
    assert.equal(exitCodeForHttp(404, 'caCertificate.notFound'), EXIT.notFound);
    assert.equal(exitCodeForHttp(404, 'request.routeNotFound'), EXIT.unavailable, 'no such route: not a (recent) trustgate');
    assert.equal(exitCodeForHttp(409, 'caCertificate.limitReached'), EXIT.conflict);
    assert.equal(exitCodeForHttp(429, undefined), EXIT.conflict);
    assert.equal(exitCodeForHttp(400, 'caCertificate.notCa'), EXIT.dataError);
    assert.equal(exitCodeForHttp(413, 'request.bodyTooLarge'), EXIT.dataError);
    assert.equal(exitCodeForHttp(500, 'internal'), EXIT.unavailable);
    assert.equal(exitCodeForHttp(503, 'auth.identityProviderUnavailable'), EXIT.unavailable);
    assert.equal(exitCodeForHttp(418, undefined), EXIT.software);
  });

  test('every failure becomes one line: CliError as is, pki refusals with their code, anything else as unexpected', () => {
    assert.deepEqual(describeFailure(new CliError('a\n  b', EXIT.noInput), () => false), { line: 'a b', exitCode: EXIT.noInput });
    assert.deepEqual(describeFailure(new DomainError('csr.invalid', 'The CSR is bad.'), () => false), { line: 'The CSR is bad. (csr.invalid)', exitCode: EXIT.dataError });
    assert.deepEqual(describeFailure(new DomainError('storage.unavailable', 'PostgreSQL at db:5432 is unreachable.'), () => false),
      { line: 'PostgreSQL at db:5432 is unreachable. (storage.unavailable)', exitCode: EXIT.unavailable }, 'serve without its database: 69, not a data error');
    assert.deepEqual(describeFailure(new Error('Invalid configuration:\n  X'), () => true), { line: 'Invalid configuration: X', exitCode: EXIT.config });
    const unexpected = describeFailure(new TypeError('boom'), () => false);
    assert.equal(unexpected.exitCode, EXIT.software);
    assert.match(unexpected.line, /^unexpected error: boom \(run again with --verbose/);
  });
});
