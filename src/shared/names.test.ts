import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GOOD_AGENT_NAMES, HOSTILE_AGENT_NAMES } from '../../test/support/hostile-names.ts';
import { agentNameProblem, AGENT_NAME_PATTERN, showName, trimDisplayName } from './names.ts';

describe('the agent name rule', () => {
  for (const [what, name] of HOSTILE_AGENT_NAMES) {
    test(`refuses ${what}, and says why`, () => {
      const problem = agentNameProblem(name);
      assert.ok(problem, `${JSON.stringify(name)} must be refused`);
      assert.doesNotMatch(problem, /[\u0000-\u001f\u007f-\u009f]/, 'the reason never echoes a control character');
      assert.equal(AGENT_NAME_PATTERN.test(name), false);
    });
  }

  test('accepts letters, digits, ".", "_" and "-", starting with a letter or digit, up to 64', () => {
    for (const name of GOOD_AGENT_NAMES) assert.equal(agentNameProblem(name), undefined, name);
  });

  test('names the offending character', () => {
    assert.equal(agentNameProblem('pump 1'), 'it holds a space');
    assert.equal(agentNameProblem('a/b'), 'it holds "/"');
    assert.equal(agentNameProblem('a\nb'), 'it holds the control character U+000A');
    assert.equal(agentNameProblem('pümpe'), 'it holds the non-ASCII character U+00FC "ü"');
    assert.equal(agentNameProblem('a\u00a0b'), 'it holds the white space U+00A0');
    assert.equal(agentNameProblem('a\u202eb'), 'it holds the non-ASCII character U+202E "\\u202e"');
    assert.equal(agentNameProblem('-x'), 'it starts with "-"');
    assert.equal(agentNameProblem('n'.repeat(65)), 'it has 65 characters, more than 64');
    assert.equal(agentNameProblem(''), 'it is empty');
  });
});

test('a name is shown quoted, with every control, invisible or bidirectional character escaped', () => {
  for (const [what, name] of HOSTILE_AGENT_NAMES) {
    assert.doesNotMatch(showName(name), /[\u0000-\u001f\u007f-\u009f\u200b\u202e]/, what);
  }
  assert.equal(showName('a\u009bb\u202ec'), '"a\\u009bb\\u202ec"');
  assert.equal(showName('pump 1'), '"pump 1"');
  assert.match(showName('n'.repeat(100)), /^"n{80}"… \(100 characters\)$/);
});

describe('display names', () => {
  test('surrounding white space is trimmed; nothing left is no name', () => {
    assert.equal(trimDisplayName('  acme CA \t'), 'acme CA');
    assert.equal(trimDisplayName('acme  CA'), 'acme  CA');
    for (const blank of ['', '   ', '\t\n', '\u00a0\u3000']) assert.equal(trimDisplayName(blank), undefined, JSON.stringify(blank));
  });
});
