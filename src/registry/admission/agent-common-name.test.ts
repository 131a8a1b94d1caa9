import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { commonNameProblem } from './agent-common-name.ts';

// Issue 10 finding 11: a CN is counted as PostgreSQL's varchar(64) counts it (code points) and
// must not hold what the dialect escapes or cannot store as sent.
describe('commonNameProblem', () => {
  const cases: [string, string, RegExp | undefined][] = [
    ['an ordinary name', 'pump-1', undefined],
    ['64 ASCII characters', 'a'.repeat(64), undefined],
    ['64 astral characters (128 UTF-16 units)', '\u{1F527}'.repeat(64), undefined],
    ['umlauts and CJK', 'Gerät-水泵', undefined],
    ['65 characters', 'a'.repeat(65), /65 characters/],
    ['40 × U+FFFF (80 characters once escaped)', '\uFFFF'.repeat(40), /noncharacter U\+FFFF/],
    ['U+FFFE', 'a\uFFFEb', /U\+FFFE/],
    ['U+FDD0 (start of the noncharacter block)', 'a\uFDD0', /U\+FDD0/],
    ['U+FDEF (end of the block)', 'a\uFDEF', /U\+FDEF/],
    ['U+FDF0 (after the block) is a character', 'a\uFDF0', undefined],
    ['U+10FFFF', 'a\u{10FFFF}', /U\+10FFFF/],
    ['an unpaired high surrogate', 'a\uD83D', /unpaired surrogate U\+D83D/],
    ['an unpaired low surrogate', '\uDD27a', /unpaired surrogate U\+DD27/],
    ['NUL', 'a\u0000b', /NUL/],
    ['a topic separator', 'a/b', /"\/"/],
    ['a wildcard', 'a+b', /"\+"/],
    ['empty', '', /empty/],
  ];
  for (const [name, commonName, expected] of cases) {
    test(name, () => {
      const problem = commonNameProblem(commonName);
      if (expected) assert.match(problem ?? '', expected);
      else assert.equal(problem, undefined);
    });
  }
});
