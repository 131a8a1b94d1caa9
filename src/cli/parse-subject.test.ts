import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CliError, EXIT } from './cli-error.ts';
import { parseSubject } from './parse-subject.ts';

describe('parseSubject (OpenSSL -subj syntax)', () => {
  test('attributes in order, case-insensitive names, "\\/" inside a value', () => {
    assert.deepEqual(Object.entries(parseSubject('/C=DE/ST=BW/o=Acme \\/ Co/OU=IT/CN=acme CA')),
      [['C', 'DE'], ['ST', 'BW'], ['O', 'Acme / Co'], ['OU', 'IT'], ['CN', 'acme CA']]);
    assert.deepEqual(parseSubject('/emailAddress=ops@acme.example/CN=x/'), { E: 'ops@acme.example', CN: 'x' });
  });

  for (const [subject, why] of [
    ['CN=x', /must start with "\/"/],
    ['/', /names no attribute/],
    ['/CN', /not ATTRIBUTE=value/],
    ['/XX=1', /unknown attribute "XX"/],
    ['/CN=', /empty CN/],
    ['/CN=a/CN=b', /names CN twice/],
    ['/C=Germany', /longer than 2/],
    ['/C=de', /not a two-letter country code/],
    [`/CN=${'x'.repeat(65)}`, /CN longer than 64/],
  ] as const) {
    test(`"${subject.slice(0, 20)}" is a usage error: ${why.source}`, () => {
      assert.throws(() => parseSubject(subject), (error: unknown) => error instanceof CliError && error.exitCode === EXIT.usage && why.test(error.message));
    });
  }
});
