import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validityProblem } from './validity.ts';

// The one validity helper (issue 10, finding 9): the skew forgives a notBefore slightly ahead of
// our clock, never an expired certificate.
const now = new Date('2030-06-15T12:00:00.000Z');
const context = { now, clockSkewMs: 300_000 };
const at = (offsetMs: number): Date => new Date(now.getTime() + offsetMs);

describe('validityProblem', () => {
  const cases: { name: string; notBefore: Date; notAfter: Date; expected: ReturnType<typeof validityProblem> }[] = [
    { name: 'valid now', notBefore: at(-1000), notAfter: at(1000), expected: undefined },
    { name: 'notBefore 2 minutes ahead (a CA made on a fast clock) is within the skew', notBefore: at(120_000), notAfter: at(86_400_000), expected: undefined },
    { name: 'notBefore exactly at the skew boundary', notBefore: at(300_000), notAfter: at(86_400_000), expected: undefined },
    { name: 'notBefore beyond the skew', notBefore: at(300_001), notAfter: at(86_400_000), expected: 'notYetValid' },
    { name: 'notAfter exactly now (inclusive)', notBefore: at(-1000), notAfter: now, expected: undefined },
    { name: 'expired a millisecond ago, within the skew: still expired', notBefore: at(-86_400_000), notAfter: at(-1), expected: 'expired' },
  ];
  for (const { name, notBefore, notAfter, expected } of cases) {
    test(name, () => assert.equal(validityProblem({ notBefore, notAfter }, context), expected));
  }
});
