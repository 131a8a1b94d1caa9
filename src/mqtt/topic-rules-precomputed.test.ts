import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TenantId } from '../shared/index.ts';
import { isTenantId } from '../shared/index.ts';
import { isTopicSafeLevel } from '../registry/index.ts';
import { isAgentTokenRequestTopic } from './agent-token-requests.ts';
import { isRenewalRequestTopic } from './certificate-renewal.ts';
import { isCommandTopic, isCommandUpdateTopic } from './command-messages.ts';
import { mayReceive, maySubscribe, soleReceiverOf, whyPublishRefused, type Publisher } from './topic-rules.ts';

// The rules compute a publisher's prefixes once per publisher object and read an application's
// publish topic in place (issue 18: CPU per message). The rules themselves must not change: every
// decision is compared with the plain, per-call statement of the same rules below (the form they
// had before), over a corpus of hostile topics and identities, including publisher objects that
// are changed after their first check and the same object asked again under every other topic.

const referenceWellFormed = (p: Publisher): boolean => {
  if (!isTenantId(p.tenant)) return false;
  if (p.kind === 'application') return true;
  return p.clientId.startsWith(`${p.tenant}_`) && isTopicSafeLevel(p.clientId) && p.clientId.length > p.tenant.length + 1;
};
const plain = (t: string): boolean => t.length > 0 && !t.includes('\u0000') && !t.startsWith('$');
const noWildcard = (t: string): boolean => !t.includes('+') && !t.includes('#');
const below = (t: string, prefix: string): boolean => t.startsWith(prefix) && t.length > prefix.length;
const TOKEN_ANSWER = /^tc\/[^/]+\/([^/]+)\/i\/agm_v3\/tr$/;
const referenceWhyPublishRefused = (p: Publisher, topic: string): string | undefined => {
  if (!referenceWellFormed(p) || !plain(topic) || !noWildcard(topic)) return 'topic not allowed';
  if (p.kind === 'agent') return below(topic, `tc/${p.tenant}/${p.clientId}/o/`) ? undefined : 'topic not allowed';
  if (!topic.startsWith(`tc/${p.tenant}/`)) return 'topic not allowed';
  const [clientId, direction, ...rest] = topic.slice(`tc/${p.tenant}/`.length).split('/');
  if (!(clientId !== undefined && clientId.length > 0 && direction === 'i' && rest.join('/').length > 0)) return 'topic not allowed';
  if (TOKEN_ANSWER.test(topic) && p.clientId !== 'trustgate') return 'topic not allowed';
  return p.mayPublish ? undefined : 'missing scope mcmqtt.admin';
};
const referenceMaySubscribe = (p: Publisher, filter: string): boolean =>
  referenceWellFormed(p) && plain(filter) && below(filter, p.kind === 'agent' ? `tc/${p.tenant}/${p.clientId}/i/` : `tc/${p.tenant}/`);
const referenceMayReceive = (p: Publisher, topic: string): boolean =>
  noWildcard(topic) && referenceMaySubscribe(p, topic) && (p.kind === 'agent' || !TOKEN_ANSWER.test(topic));

const agent = (tenant: string, clientId: string): Publisher => ({ kind: 'agent', tenant: tenant as TenantId, clientId });
const application = (tenant: string, clientId: string, mayPublish: boolean): Publisher =>
  ({ kind: 'application', tenant: tenant as TenantId, clientId, mayPublish });

const publishers = (): Publisher[] => [
  agent('acme', 'acme_pump-1'), agent('acme', 'acme_pump-10'), agent('acme-x', 'acme-x_pump-1'), agent('ac', 'ac_me'),
  agent('acme', 'acme_x/i/y'), agent('acme', 'acme_'), agent('acme', 'acme_+'), agent('acme', 'other_pump'), agent('ACME', 'ACME_p'),
  agent('acme', ''), agent('', '_p'), agent('+', '+_p'),
  application('acme', 'acme_app', true), application('acme', 'acme_app', false), application('acme', 'trustgate', true),
  application('acme-x', 'acme-x_app', true), application('ac', 'ac_app', true), application('+', 'x', true), application('', 'x', true),
  application('acme/i', 'x', true),
];

// Level shapes an attacker would try around every prefix the rules compare.
const levels = ['acme', 'acme-x', 'ac', 'ACME', '', '+', '#', 'acme_pump-1', 'acme_pump-10', 'acme_pump-1\u0000', 'acme_x', 'i', 'o', 'I', '\u0456',
  'agm_v3', 'tr', 't', 'cert_v1', 'csr', 'cmd_v3', 'c', 'u', 'data', '$SYS', '$share', 'tc', 'x'];
const corpus = (): string[] => {
  const topics = new Set<string>(['', '/', '//', 'tc', 'tc/', 'tc//', '$SYS/x', '\u0000', 'tc/acme/acme_pump-1/i/agm_v3/tr\n', 'tc/acme/acme_pump-1/o/agm_v3/t\n']);
  for (const tenant of ['acme', 'acme-x', 'ac', '', '+', 'ACME', 'acme/i']) {
    for (const clientId of ['acme_pump-1', 'acme_pump-10', 'acme-x_pump-1', 'ac_me', '', '+', 'x', 'acme_x', 'trustgate']) {
      for (const direction of ['i', 'o', '', 'I', 'i/', '+', '#', '\u0456', 'ii']) {
        for (const tail of ['', '/', 'data', 'agm_v3/tr', 'agm_v3/t', 'agm_v3/trx', 'cert_v1/csr', 'cmd_v3/c', 'cmd_v3/u', 'a//b', '#', '+/x', 'x\u0000', 'agm_v3/tr/x']) {
          topics.add(`tc/${tenant}/${clientId}/${direction}/${tail}`);
          topics.add(`tc/${tenant}/${clientId}/${direction}${tail}`);
        }
        topics.add(`tc/${tenant}/${clientId}/${direction}`);
      }
    }
  }
  for (const a of levels) for (const b of levels) topics.add(`${a}/${b}`);
  return [...topics];
};

describe('precomputed walls decide exactly as the rules stated per call', () => {
  const topics = corpus();
  test(`whyPublishRefused, maySubscribe, mayReceive over ${topics.length} topics and every publisher, asked twice each`, () => {
    let allowed = 0;
    for (const p of publishers()) {
      for (let round = 0; round < 2; round += 1) {
        for (const topic of topics) {
          if (referenceWhyPublishRefused(p, topic) === undefined) allowed += 1;
          if (referenceMayReceive(p, topic)) allowed += 1;
          assert.equal(whyPublishRefused(p, topic), referenceWhyPublishRefused(p, topic), `publish ${p.kind} ${p.tenant}/${p.clientId} ${JSON.stringify(topic)}`);
          assert.equal(maySubscribe(p, topic), referenceMaySubscribe(p, topic), `subscribe ${p.kind} ${p.tenant}/${p.clientId} ${JSON.stringify(topic)}`);
          assert.equal(mayReceive(p, topic), referenceMayReceive(p, topic), `receive ${p.kind} ${p.tenant}/${p.clientId} ${JSON.stringify(topic)}`);
        }
      }
    }
    assert.ok(allowed > 100, 'the corpus holds topics the rules allow, not only refusals');
  });

  test('a publisher object changed after its first check is judged by what it holds now, never by a stale prefix', () => {
    const p = { kind: 'agent', tenant: 'acme', clientId: 'acme_pump-1' } as { kind: 'agent' | 'application'; tenant: TenantId; clientId: string; mayPublish?: boolean };
    assert.equal(whyPublishRefused(p as Publisher, 'tc/acme/acme_pump-1/o/data'), undefined);
    p.clientId = 'acme_pump-2';
    assert.equal(whyPublishRefused(p as Publisher, 'tc/acme/acme_pump-1/o/data'), 'topic not allowed');
    assert.equal(whyPublishRefused(p as Publisher, 'tc/acme/acme_pump-2/o/data'), undefined);
    p.tenant = 'other' as TenantId;
    assert.equal(whyPublishRefused(p as Publisher, 'tc/acme/acme_pump-2/o/data'), 'topic not allowed', 'client id no longer <tenant>_…');
    assert.equal(maySubscribe(p as Publisher, 'tc/acme/acme_pump-2/i/#'), false);
    p.kind = 'application';
    p.mayPublish = true;
    assert.equal(maySubscribe(p as Publisher, 'tc/other/#'), true, 'now an application of tenant other');
    assert.equal(whyPublishRefused(p as Publisher, 'tc/other/other_pump/i/cmd'), undefined);
    p.mayPublish = false;
    assert.equal(whyPublishRefused(p as Publisher, 'tc/other/other_pump/i/cmd'), 'missing scope mcmqtt.admin', 'mayPublish is read at every call');
    p.tenant = '+' as TenantId;
    assert.equal(maySubscribe(p as Publisher, 'tc/+/#'), false, 'a tenant that is no tenant id gets nothing');
  });
});

describe('interceptions: one endsWith before the regex decides exactly as the regex alone', () => {
  const cases: readonly (readonly [string, (topic: unknown) => boolean, RegExp])[] = [
    ['agent token request', isAgentTokenRequestTopic, /^tc\/[^/]+\/[^/]+\/o\/agm_v3\/t$/],
    ['renewal request', isRenewalRequestTopic, /^tc\/[^/]+\/[^/]+\/o\/cert_v1\/csr$/],
    ['command', isCommandTopic, /^tc\/[^/]+\/[^/]+\/i\/cmd_v3\/c$/],
    ['command update', isCommandUpdateTopic, /^tc\/[^/]+\/[^/]+\/o\/cmd_v3\/u$/],
  ];
  const topics = corpus();
  for (const [name, check, regex] of cases) {
    test(`${name}: the same answer for every topic of the corpus and for non-strings`, () => {
      for (const topic of topics) assert.equal(check(topic), regex.test(topic), JSON.stringify(topic));
      for (const value of [undefined, null, 42, { endsWith: () => true }, ['tc/a/b/o/agm_v3/t']]) assert.equal(check(value), false);
    });
  }
  test('soleReceiverOf names the agent of a token answer, and nothing for any other topic', () => {
    for (const topic of topics) assert.equal(soleReceiverOf(topic), TOKEN_ANSWER.exec(topic)?.[1], JSON.stringify(topic));
    assert.equal(soleReceiverOf('tc/acme/acme_pump-1/i/agm_v3/tr'), 'acme_pump-1');
    assert.equal(soleReceiverOf('tc/acme/acme_pump-1/i/agm_v3/tr\n'), undefined);
  });
});
