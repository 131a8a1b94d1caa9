import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDomainError, type TenantId } from '../shared/index.ts';
import { agentContext } from './audit-context.ts';
import { InMemoryAuditTrail } from './audit-trail.ts';
import { AGENT_TOKEN_REQUEST_INTERVAL_MS, type AgentTokenSigner, createIssueAgentToken, InMemoryAgentTokenRequestLimit } from './issue-agent-token.ts';

// Issue 19 part 1: one token per agent per minute; each grant recorded in the audit trail (its jti, never the token).

const T0 = Date.parse('2026-12-03T12:00:00Z');
const acme = 'acme' as TenantId;

const setUp = () => {
  const clock = { ms: T0, now: () => new Date(clock.ms) };
  const signed: { tenant: string; clientId: string; jti: string }[] = [];
  const signer: AgentTokenSigner = {
    async sign(claims) {
      signed.push(claims);
      return { token: `token-${claims.jti}`, kid: 'k1', expiresInSeconds: 3600, scope: ['mdsp:core:DefaultAgent'], issuedAt: clock.now() };
    },
  };
  const audit = new InMemoryAuditTrail();
  let next = 0;
  const issue = createIssueAgentToken({ signer, limit: new InMemoryAgentTokenRequestLimit(), audit, clock, newJti: () => `jti-${++next}` });
  return { clock, signed, audit, issue };
};

const rateLimited = (retryAt: string) => (error: unknown): boolean => {
  assert.ok(isDomainError(error), String(error));
  assert.equal(error.code, 'agentToken.rateLimited');
  assert.deepEqual(error.details, { retryAt });
  assert.match(error.message, new RegExp(retryAt.replace(/[.]/g, '\\.')));
  return true;
};

describe('issueAgentToken', () => {
  it('grants a Bearer token for the agent and records agentToken.issued with its jti', async () => {
    const { issue, signed, audit } = setUp();
    const grant = await issue({ tenant: acme, clientId: 'acme_pump-1' }, agentContext('acme_pump-1', '10.0.0.7'));
    assert.deepEqual(grant, {
      accessToken: 'token-jti-1', tokenType: 'Bearer', expiresInSeconds: 3600, scope: ['mdsp:core:DefaultAgent'], jti: 'jti-1', kid: 'k1', issuedAt: new Date(T0),
    });
    assert.deepEqual(signed, [{ tenant: 'acme', clientId: 'acme_pump-1', jti: 'jti-1' }]);
    const [entry] = audit.entries;
    assert.deepEqual({ ...entry }, {
      time: new Date(T0), tenant: 'acme', action: 'agentToken.issued', target: 'agent:acme_pump-1', reason: 'jti:jti-1', outcome: 'success',
      actor: { type: 'agent', id: 'acme_pump-1' }, sourceAddress: '10.0.0.7', requestId: undefined, count: 1,
    });
    assert.ok(!JSON.stringify(audit.entries).includes('token-jti-1'), 'the token itself is never recorded');
  });

  it('a second request within the minute is refused with the retry time, signs and records nothing; after the minute it is granted', async () => {
    const { issue, signed, audit, clock } = setUp();
    const agent = { tenant: acme, clientId: 'acme_pump-1' };
    await issue(agent, agentContext(agent.clientId));
    const retryAt = new Date(T0 + AGENT_TOKEN_REQUEST_INTERVAL_MS).toISOString();
    clock.ms = T0 + 1;
    await assert.rejects(issue(agent, agentContext(agent.clientId)), rateLimited(retryAt));
    clock.ms = T0 + AGENT_TOKEN_REQUEST_INTERVAL_MS - 1;
    await assert.rejects(issue(agent, agentContext(agent.clientId)), rateLimited(retryAt));
    assert.equal(signed.length, 1);
    assert.equal(audit.entries.length, 1);
    clock.ms = T0 + AGENT_TOKEN_REQUEST_INTERVAL_MS;
    assert.equal((await issue(agent, agentContext(agent.clientId))).jti, 'jti-2');
  });

  it('the limit is per agent: another agent, or the same name in another tenant, is not held up', async () => {
    const { issue } = setUp();
    await issue({ tenant: acme, clientId: 'acme_pump-1' }, agentContext('acme_pump-1'));
    await issue({ tenant: acme, clientId: 'acme_pump-2' }, agentContext('acme_pump-2'));
    await issue({ tenant: 'other' as TenantId, clientId: 'acme_pump-1' }, agentContext('acme_pump-1'));
  });
});
