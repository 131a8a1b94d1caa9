import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Aedes, Client } from 'aedes';
import pino from 'pino';
import type { IssueAgentToken } from '../registry/index.ts';
import { type AgentId, type CaCertificateId, DomainError, type TenantId } from '../shared/index.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import { installAgentTokenRequests, type AgentTokenOutcome } from './agent-token-requests.ts';
import type { SessionRegistry } from './session-registry.ts';

// Security review of decision 0033: what an agent (or anyone else) can make the token handler do,
// on a stand-in broker. Each row is an attack; the table says what must (not) happen.

const agent = (tenant: string, clientId: string): BrokerPrincipal => ({
  kind: 'agent', tenant: tenant as TenantId, clientId, agentId: 'a'.repeat(24) as AgentId, caCertificateId: 'c'.repeat(24) as CaCertificateId,
  certificateSerialNumber: '1f', sessionId: 's',
});

const setUp = () => {
  const answers: { topic: string; body: any }[] = [];
  const infoLines: string[] = [];
  const broker = {
    publish(packet: { topic: string; payload: Buffer }, _client: unknown, done?: (error?: Error) => void) {
      answers.push({ topic: packet.topic, body: JSON.parse(packet.payload.toString()) });
      done?.();
    },
  };
  const principals = new Map<object, BrokerPrincipal>();
  const sessions = { principalOf: (client: Client) => principals.get(client) } as unknown as SessionRegistry;
  const logger = pino({ level: 'info' }, { write: (line: string) => { infoLines.push(line); } });
  let limitChecks = 0;
  let grantedUntilMs = 0;
  // The use case as it behaves: one grant per agent per minute, then rateLimited with retryAt.
  const issueAgentToken: IssueAgentToken = async ({ clientId }) => {
    limitChecks += 1;
    const nowMs = Date.now();
    if (grantedUntilMs > nowMs) {
      throw new DomainError('agentToken.rateLimited', 'at most one request per agent per minute', { details: { retryAt: new Date(grantedUntilMs).toISOString() } });
    }
    grantedUntilMs = nowMs + 60_000;
    return { accessToken: `token-of-${clientId}`, tokenType: 'Bearer', expiresInSeconds: 3600, scope: ['mdsp:core:DefaultAgent'], jti: 'j', kid: 'k', issuedAt: new Date(nowMs) };
  };
  const outcomes: AgentTokenOutcome[] = [];
  installAgentTokenRequests(broker as unknown as Aedes, { issueAgentToken, sessions, logger, onOutcome: (outcome) => outcomes.push(outcome) });
  const clientOf = (principal: BrokerPrincipal | undefined, closed = false): Client => {
    const client = { id: principal?.clientId ?? 'x', closed, conn: { remoteAddress: '192.0.2.1' } } as unknown as Client;
    if (principal) principals.set(client, principal);
    return client;
  };
  const send = (client: Client | null, topic: string, payload: string): void => {
    (broker as unknown as { publish: (packet: object, client: Client | null, done: () => void) => void }).publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0 }, client, () => undefined);
  };
  const settled = () => new Promise((resolve) => setImmediate(resolve));
  return { answers, infoLines, outcomes, clientOf, send, settled, limitChecks: () => limitChecks };
};

test('requests nobody may make are dropped unanswered, without a limit check: another agent\'s topic, an application, a closed session, a will (no client)', async () => {
  const { answers, clientOf, send, settled, limitChecks } = setUp();
  const pump = agent('acme', 'acme_pump-1');
  const rows: [string, Client | null, string][] = [
    ['another agent\'s request topic', clientOf(pump), 'tc/acme/acme_pump-2/o/agm_v3/t'],
    ['another tenant\'s topic', clientOf(pump), 'tc/other/acme_pump-1/o/agm_v3/t'],
    ['a tenant application', clientOf({ kind: 'application', tenant: 'acme' as TenantId, clientId: 'acme_app', mayPublish: true }), 'tc/acme/acme_pump-1/o/agm_v3/t'],
    ['a closed session', clientOf(pump, true), 'tc/acme/acme_pump-1/o/agm_v3/t'],
    ['no session', clientOf(undefined), 'tc/acme/acme_pump-1/o/agm_v3/t'],
    ['a will of a stopped node (no client)', null, 'tc/acme/acme_pump-1/o/agm_v3/t'],
  ];
  for (const [what, client, topic] of rows) {
    send(client, topic, JSON.stringify({ id: what }));
    await settled();
    assert.deepEqual(answers, [], what);
  }
  assert.equal(limitChecks(), 0);
});

test('a flood within the minute: every request answered rateLimited with the same retryAt, one limit check and one info line for the whole flood, whatever the ids', async () => {
  const { answers, infoLines, outcomes, clientOf, send, settled, limitChecks } = setUp();
  const pump = agent('acme', 'acme_pump-1');
  const client = clientOf(pump);
  send(client, 'tc/acme/acme_pump-1/o/agm_v3/t', JSON.stringify({ id: 'first' }));
  await settled();
  assert.equal(answers[0]?.body.data?.access_token, 'token-of-acme_pump-1');
  for (let i = 0; i < 200; i++) {
    send(client, 'tc/acme/acme_pump-1/o/agm_v3/t', JSON.stringify({ id: `flood-${i}` }));
    await settled();
  }
  const refusals = answers.slice(1);
  assert.equal(refusals.length, 200);
  assert.ok(refusals.every(({ topic, body }, i) => topic === 'tc/acme/acme_pump-1/i/agm_v3/tr' && body.id === `flood-${i}` && body.error.code === 'agentToken.rateLimited'
    && body.error.retryAt === refusals[0]!.body.error.retryAt && body.data === undefined));
  assert.equal(limitChecks(), 2, 'the grant and the first refusal; the rest answered from memory');
  assert.equal(outcomes.filter((outcome) => outcome === 'rateLimited').length, 200, 'still counted, each');
  assert.equal(infoLines.filter((line) => line.includes('agent access token refused')).length, 1);
  // Malformed requests are refused as such, not as rateLimited, and never reach the limit.
  send(client, 'tc/acme/acme_pump-1/o/agm_v3/t', '{"id": 7}');
  await settled();
  assert.equal(answers.at(-1)!.body.error.code, 'agentToken.requestInvalid');
  assert.equal(limitChecks(), 2);
});

test('during a drain: the use case fails (database closed) → answered internal, no token, no secret in the answer; the answer cannot be published (broker closing) → logged, nothing thrown', async () => {
  const answers: any[] = [];
  const lines: string[] = [];
  let failPublish = false;
  const broker = {
    publish(packet: { payload: Buffer }, _client: unknown, done?: (error?: Error) => void) {
      if (failPublish) return done?.(new Error('broker closed'));
      answers.push(JSON.parse(packet.payload.toString()));
      done?.();
    },
  };
  const pump = agent('acme', 'acme_pump-1');
  const client = { id: pump.clientId, closed: false, conn: {} } as unknown as Client;
  const sessions = { principalOf: (each: Client) => (each === client ? pump : undefined) } as unknown as SessionRegistry;
  const logger = pino({ level: 'debug' }, { write: (line: string) => { lines.push(line); } });
  const issueAgentToken: IssueAgentToken = async () => { throw new Error('Connection terminated: postgres://trustgate:s3cret@db/trustgate'); };
  installAgentTokenRequests(broker as unknown as Aedes, { issueAgentToken, sessions, logger });
  const send = () => (broker as unknown as { publish: (packet: object, client: Client, done: () => void) => void })
    .publish({ cmd: 'publish', topic: 'tc/acme/acme_pump-1/o/agm_v3/t', payload: Buffer.from('{"id":"d"}'), qos: 1 }, client, () => undefined);
  send();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(answers, [{ id: 'd', error: { code: 'internal', message: 'The token could not be issued; details are in the server log. Retry later.' } }]);
  failPublish = true;
  send();
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(lines.some((line) => line.includes('could not publish an agent token answer')));
});
