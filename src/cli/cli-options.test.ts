import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GOOD_AGENT_NAMES, HOSTILE_AGENT_NAMES } from '../../test/support/hostile-names.ts';
import { CliError, EXIT } from './cli-error.ts';
import { checkAgentName } from './cli-options.ts';

// The CLI's `agent issue --name` against the table the API's POST /agentCertificates is tested
// with (test/api/agent-certificates.test.ts): one rule for agent names (issue 13, item 5).
describe('checkAgentName (agent issue --name)', () => {
  for (const [what, name] of HOSTILE_AGENT_NAMES) {
    test(`refuses ${what}: a usage error (64) naming the option and the rule`, () => {
      assert.throws(() => checkAgentName('--name', name), (error: unknown) => {
        assert.ok(error instanceof CliError);
        assert.equal(error.exitCode, EXIT.usage);
        assert.match(error.message, /^--name ".*cannot be an agent name: it (is|holds|starts|has) .*; use 1-64 letters, digits/s);
        assert.doesNotMatch(error.message, /[\u0000-\u001f\u007f-\u009f]/, 'one line, no control characters');
        return true;
      });
    });
  }

  test('accepts every name the API accepts', () => {
    for (const name of GOOD_AGENT_NAMES) assert.equal(checkAgentName('--name', name), name);
  });
});
