import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import { isTopicSafeLevel, mayPublish, mayReceive, maySubscribe, whyPublishRefused } from './topic-rules.ts';

// The topic rules (README, "Connect an agent"): an agent publishes only to tc/<tenant>/<clientId>/o/... and subscribes only to
// tc/<tenant>/<clientId>/i/... (wildcards only below that prefix); $SYS is closed; a tenant
// application subscribes anywhere under tc/<its tenant>/ and publishes to agents' inbound topics
// tc/<tenant>/<clientId>/i/... — never outside its tenant. Every row is what an attacker would try,
// with the answer the broker must give. Topics are case-sensitive byte strings; MQTT levels are
// literal (no `..`), so only the literal prefix of a topic decides where it lands.

type Row = readonly [topic: string, expected: boolean, why: string];
type Check = (principal: BrokerPrincipal, topic: string) => boolean;

const agent = (tenant: string, clientId: string): BrokerPrincipal =>
  ({ kind: 'agent', tenant: tenant as TenantId, clientId, agentId: 'a'.repeat(24) as AgentId, caCertificateId: 'c'.repeat(24) as CaCertificateId, certificateSerialNumber: '1f', sessionId: 's' });
const application = (tenant: string, mayPublishFlag: boolean): BrokerPrincipal =>
  ({ kind: 'application', tenant: tenant as TenantId, clientId: `app-${tenant}`, mayPublish: mayPublishFlag });

const pump = agent('acme', 'acme_pump-1');
const app = application('acme', true);
const readOnlyApp = application('acme', false);
const appAcmeX = application('acme-x', true);
const appAc = application('ac', true);

const OWN_O = 'tc/acme/acme_pump-1/o/';
const OWN_I = 'tc/acme/acme_pump-1/i/';
const LONG = 'x'.repeat(60_000); // still below MQTT's 65,535-byte topic limit
const MANY_LEVELS = 'a/'.repeat(20_000) + 'a';

const show = (topic: string): string => {
  const printable = JSON.stringify(topic).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return printable.length > 90 ? `${printable.slice(0, 60)}…(${topic.length} chars)` : printable;
};

const runTable = (name: string, check: Check, principal: BrokerPrincipal, rows: readonly Row[]): void => {
  describe(name, () => {
    for (const [topic, expected, why] of rows) {
      test(`${expected ? 'allows' : 'refuses'} ${show(topic)} — ${why}`, () => {
        assert.equal(check(principal, topic), expected);
      });
    }
  });
};

// ---------------------------------------------------------------------------------------------
// Agent acme_pump-1 of tenant acme
// ---------------------------------------------------------------------------------------------

const agentPublishRows: readonly Row[] = [
  [`${OWN_O}data`, true, 'own outbound topic'],
  [`${OWN_O}v3/timeseries/a/b`, true, 'own outbound, several levels'],
  [`${OWN_O}x/`, true, 'trailing slash below own o/ is still below'],
  [`${OWN_O}a//b`, true, 'empty level below own o/ is still below'],
  [`${OWN_O}a\uFF0Fb`, true, 'fullwidth solidus is a plain character inside own level'],
  [`${OWN_O}../../acme_pump-2/i/cmd`, true, 'MQTT has no `..`: this is a literal topic below own o/'],
  [`${OWN_O}${LONG}`, true, 'very long topic below own o/ (length is the codec\'s job)'],
  [`${OWN_O}${MANY_LEVELS}`, true, 'very many levels below own o/'],
  ['tc/acme/acme_pump-1/o', false, '`o` without a level below'],
  [OWN_O, false, '`o/` with nothing below'],
  [`${OWN_I}cmd`, false, 'own inbound topic is not for publishing'],
  ['tc/acme/acme_pump-1/O/data', false, 'case variation of `o`'],
  ['tc/acme/acme_pump-1/data', false, 'missing direction level'],
  ['tc/acme/acme_pump-1//o/data', false, 'double slash before `o`'],
  ['tc/acme//acme_pump-1/o/data', false, 'double slash before client id'],
  ['tc//acme/acme_pump-1/o/data', false, 'double slash before tenant'],
  ['/tc/acme/acme_pump-1/o/data', false, 'leading slash (empty first level)'],
  ['tc/acme/acme_pump-2/o/data', false, 'another agent of the same tenant'],
  ['tc/acme/acme_pump-2/i/cmd', false, 'another agent\'s inbound (command injection)'],
  ['tc/acme/acme_pump-10/o/data', false, 'prefix confusion: acme_pump-10 vs acme_pump-1'],
  ['tc/acme/acme_pump-1x/o/data', false, 'prefix confusion: client id with a suffix'],
  ['tc/acme/acme_pump/o/data', false, 'shorter client id'],
  ['tc/acme-x/acme_pump-1/o/data', false, 'prefix confusion: tenant acme-x'],
  ['tc/ac/acme_pump-1/o/data', false, 'prefix confusion: tenant ac'],
  ['tc/acmex/acme_pump-1/o/data', false, 'prefix confusion: tenant acmex'],
  ['tc/other/other_pump-1/o/data', false, 'another tenant'],
  ['tc/other/acme_pump-1/o/data', false, 'own client id under another tenant'],
  ['tc/acme/o/data', false, 'tenant level only'],
  [`${OWN_O}+`, false, 'wildcard `+` in a topic name'],
  [`${OWN_O}#`, false, 'wildcard `#` in a topic name'],
  [`${OWN_O}a+b`, false, '`+` inside a level of a topic name'],
  [`${OWN_O}a#`, false, '`#` inside a level of a topic name'],
  ['tc/acme/+/o/data', false, 'wildcard for the client id'],
  ['tc/+/acme_pump-1/o/data', false, 'wildcard for the tenant'],
  ['#', false, 'bare `#`'],
  ['+', false, 'bare `+`'],
  ['', false, 'empty topic'],
  ['\u0000', false, 'NUL only'],
  [`${OWN_O}data\u0000`, false, 'NUL at the end of own topic'],
  [`${OWN_O}\u0000`, false, 'NUL as the level below own o/'],
  ['tc/acme/acme_pump-1\u0000/o/data', false, 'NUL inside the client id'],
  [`\u0000${OWN_O}data`, false, 'NUL before the prefix'],
  ['$SYS/broker/clients', false, '$SYS'],
  [`$SYS/${OWN_O}data`, false, '$SYS wrapping own topic'],
  [`$share/g/${OWN_O}data`, false, '$share wrapping own topic'],
  ['TC/acme/acme_pump-1/o/data', false, 'case variation: TC'],
  ['tc/ACME/acme_pump-1/o/data', false, 'case variation: ACME'],
  ['tc/acme/ACME_PUMP-1/o/data', false, 'case variation: client id'],
  ['t\u0441/acme/acme_pump-1/o/data', false, 'Cyrillic es look-alike in `tc`'],
  ['tc/\u0430cme/acme_pump-1/o/data', false, 'Cyrillic a look-alike in tenant'],
  ['tc/acme/acme_pump\u20101/o/data', false, 'U+2010 hyphen look-alike in client id'],
  ['tc/acme/acme_pump-1/\u03BF/data', false, 'Greek omicron look-alike for `o`'],
  ['tc/acme/acme_pump-1\u200B/o/data', false, 'zero-width space after client id'],
  ['tc/acme/acme_pump-1\uFF0Fo\uFF0Fdata', false, 'fullwidth solidus instead of `/`'],
  ['tc\u2215acme\u2215acme_pump-1\u2215o\u2215data', false, 'division slash instead of `/`'],
  [` ${OWN_O}data`, false, 'leading space'],
  [`tc/acme/acme_pump-2/o/${LONG}`, false, 'very long topic of another agent'],
];

const agentSubscribeRows: readonly Row[] = [
  [`${OWN_I}#`, true, 'own inbound tree'],
  [`${OWN_I}+`, true, 'one level below own i/'],
  [`${OWN_I}cmd`, true, 'exact own inbound topic'],
  [`${OWN_I}+/x/#`, true, 'wildcards below own i/'],
  [`${OWN_I}/#`, true, 'empty level below own i/ is still below'],
  [`${OWN_I}${LONG}`, true, 'very long filter below own i/'],
  ['tc/acme/acme_pump-1/i', false, 'exact `i` without a level below'],
  [OWN_I, false, '`i/` with nothing below'],
  ['tc/acme/acme_pump-1/#', false, '`#` covers o/ and everything else of the agent'],
  ['tc/acme/acme_pump-1/+', false, '`+` at the direction level'],
  ['tc/acme/acme_pump-1/+/x', false, '`+` at the direction level'],
  ['tc/acme/acme_pump-1/+/#', false, '`+` at the direction level'],
  [`${OWN_O}#`, false, 'own outbound is not for subscribing'],
  ['tc/acme/acme_pump-1/I/#', false, 'case variation of `i`'],
  ['tc/acme/acme_pump-1//i/#', false, 'double slash before `i`'],
  ['#', false, 'everything'],
  ['+/#', false, 'everything below any first level'],
  ['+', false, 'any single level'],
  ['+/+/+/+/#', false, 'wildcards at every level'],
  ['tc/#', false, 'all tenants'],
  ['tc/+', false, 'tenant level'],
  ['tc/+/#', false, 'all tenants'],
  ['tc/+/acme_pump-1/i/#', false, 'wildcard tenant with own client id'],
  ['tc/acme/#', false, 'whole tenant'],
  ['tc/acme/+', false, 'tenant\'s client-id level'],
  ['tc/acme/+/i/#', false, 'every agent\'s inbound'],
  ['tc/acme/+/o/#', false, 'every agent\'s outbound'],
  ['tc/acme/+/+/#', false, 'every agent'],
  ['tc/acme/acme_pump-2/i/#', false, 'another agent\'s inbound'],
  ['tc/acme/acme_pump-10/i/#', false, 'prefix confusion: acme_pump-10'],
  ['tc/acme/acme_pump-1+/i/#', false, 'client id with trailing `+`'],
  ['tc/acme-x/acme_pump-1/i/#', false, 'prefix confusion: tenant acme-x'],
  ['tc/ac/acme_pump-1/i/#', false, 'prefix confusion: tenant ac'],
  ['tc/other/other_pump-1/i/#', false, 'another tenant'],
  ['$SYS/#', false, '$SYS'],
  ['$SYS/+', false, '$SYS'],
  [`$share/g/${OWN_I}#`, false, '$share of own inbound'],
  ['$share/g/tc/acme/#', false, '$share of the tenant'],
  ['$share/g/#', false, '$share of everything'],
  ['', false, 'empty filter'],
  ['\u0000', false, 'NUL only'],
  [`${OWN_I}#\u0000`, false, 'NUL after own filter'],
  [`${OWN_I}\u0000`, false, 'NUL as the level below own i/'],
  ['TC/acme/acme_pump-1/i/#', false, 'case variation: TC'],
  ['tc/ACME/acme_pump-1/i/#', false, 'case variation: ACME'],
  ['tc/acme/acme_pump\u20101/i/#', false, 'U+2010 hyphen look-alike in client id'],
  ['tc/acme/acme_pump-1/\u0456/#', false, 'Cyrillic i look-alike'],
  ['tc//acme/acme_pump-1/i/#', false, 'double slash before tenant'],
  ['/tc/acme/acme_pump-1/i/#', false, 'leading slash'],
];

runTable('agent acme_pump-1 of acme: PUBLISH', mayPublish, pump, agentPublishRows);
runTable('agent acme_pump-1 of acme: SUBSCRIBE', maySubscribe, pump, agentSubscribeRows);

// ---------------------------------------------------------------------------------------------
// Tenant application of acme
// ---------------------------------------------------------------------------------------------

const applicationSubscribeRows: readonly Row[] = [
  ['tc/acme/#', true, 'whole own tenant'],
  ['tc/acme/+', true, 'client-id level of own tenant'],
  ['tc/acme/+/o/#', true, 'all agents\' outbound'],
  ['tc/acme/+/i/#', true, 'all agents\' inbound'],
  ['tc/acme/+/+/+', true, 'wildcards below own tenant'],
  ['tc/acme/acme_pump-1/#', true, 'one agent'],
  ['tc/acme/acme_pump-1/o/data', true, 'one exact topic'],
  [`tc/acme/${LONG}`, true, 'very long filter below own tenant'],
  ['tc/acme', false, 'tenant level without a level below'],
  ['tc/acme/', false, 'nothing below tc/acme/ (no one can publish there anyway)'],
  ['tc/#', false, 'all tenants'],
  ['tc/+', false, 'tenant level'],
  ['tc/+/#', false, 'all tenants'],
  ['tc/+/+/o/#', false, 'every tenant\'s agents'],
  ['#', false, 'everything'],
  ['+/#', false, 'everything'],
  ['+/acme/#', false, 'wildcard instead of `tc`'],
  ['tc/acme-x/#', false, 'prefix confusion: tenant acme-x'],
  ['tc/acmex/#', false, 'prefix confusion: tenant acmex'],
  ['tc/ac/#', false, 'prefix confusion: tenant ac'],
  ['tc/other/#', false, 'another tenant'],
  ['$SYS/#', false, '$SYS'],
  ['$share/g/tc/acme/#', false, '$share (MQTT 3.1.1 has none; `$` is closed)'],
  ['', false, 'empty filter'],
  ['\u0000', false, 'NUL only'],
  ['tc/acme/#\u0000', false, 'NUL after own filter'],
  ['tc/acme\u0000/#', false, 'NUL in tenant level'],
  ['TC/acme/#', false, 'case variation: TC'],
  ['tc/ACME/#', false, 'case variation: ACME'],
  ['tc/\u0430cme/#', false, 'Cyrillic a look-alike in tenant'],
  ['tc/acme\uFF0F#', false, 'fullwidth solidus instead of `/`'],
  ['tc//acme/#', false, 'double slash before tenant'],
  ['/tc/acme/#', false, 'leading slash'],
];

const applicationPublishRows: readonly Row[] = [
  ['tc/acme/acme_pump-1/i/cmd', true, 'an agent\'s inbound topic'],
  ['tc/acme/acme_pump-1/i/a/b/c', true, 'deep below an agent\'s inbound'],
  ['tc/acme/acme_pump-2/i/cmd', true, 'another agent of the same tenant'],
  ['tc/acme/acme_pump-1/i/x/', true, 'trailing slash below i/'],
  [`tc/acme/acme_pump-1/i/${LONG}`, true, 'very long topic below i/'],
  ['tc/acme/other_pump-1/i/cmd', true, 'not a client id of acme, but inside acme\'s tree (tenant other listens under tc/other/)'],
  ['tc/acme/acme_pump-1/o/data', false, 'agents\' outbound: an application must not impersonate an agent'],
  ['tc/acme/acme_pump-1/i', false, '`i` without a level below'],
  ['tc/acme/acme_pump-1/i/', false, '`i/` with nothing below'],
  ['tc/acme/acme_pump-1/I/cmd', false, 'case variation of `i`'],
  ['tc/acme/acme_pump-1/x/i/cmd', false, '`i` at the wrong level'],
  ['tc/acme/i/cmd', false, 'missing client id level'],
  ['tc/acme//i/cmd', false, 'empty client id level'],
  ['tc/acme/acme_pump-1', false, 'client id level only'],
  ['tc/acme/data', false, 'directly below the tenant'],
  ['tc/acme', false, 'tenant level only'],
  ['tc/acme/', false, 'nothing below tc/acme/'],
  ['tc/acme/acme_pump-1/i/+', false, 'wildcard `+` in a topic name'],
  ['tc/acme/acme_pump-1/i/#', false, 'wildcard `#` in a topic name'],
  ['tc/acme/acme_pump-1/i/a+b', false, '`+` inside a level'],
  ['tc/acme/+/i/cmd', false, 'wildcard client id (broadcast to all agents)'],
  ['tc/acme/#', false, 'wildcard as topic name'],
  ['tc/+/acme_pump-1/i/cmd', false, 'wildcard tenant'],
  ['tc/acme-x/acme-x_pump-1/i/cmd', false, 'prefix confusion: tenant acme-x'],
  ['tc/acmex/acmex_pump-1/i/cmd', false, 'prefix confusion: tenant acmex'],
  ['tc/ac/ac_pump-1/i/cmd', false, 'prefix confusion: tenant ac'],
  ['tc/other/other_pump-1/i/cmd', false, 'another tenant\'s agent'],
  ['$SYS/broker/x', false, '$SYS'],
  ['$share/g/tc/acme/acme_pump-1/i/cmd', false, '$share'],
  ['', false, 'empty topic'],
  ['\u0000', false, 'NUL only'],
  ['tc/acme/acme_pump-1/i/cmd\u0000', false, 'NUL at the end'],
  ['tc/acme/acme_pump-1/i/\u0000', false, 'NUL as the level below i/'],
  ['TC/acme/acme_pump-1/i/cmd', false, 'case variation: TC'],
  ['tc/ACME/acme_pump-1/i/cmd', false, 'case variation: ACME'],
  ['tc/\u0430cme/acme_pump-1/i/cmd', false, 'Cyrillic a look-alike in tenant'],
  ['tc/acme/acme_pump-1/\u0456/cmd', false, 'Cyrillic i look-alike'],
  ['tc//acme/acme_pump-1/i/cmd', false, 'double slash before tenant'],
  ['/tc/acme/acme_pump-1/i/cmd', false, 'leading slash'],
  // Security review of decision 0033: only the broker answers an agent's token request.
  ['tc/acme/acme_pump-1/i/agm_v3/tr', false, 'a forged agent token answer'],
  ['tc/acme/acme_pump-1/i/agm_v3/tr/x', true, 'below the token answer: not it'],
  ['tc/acme/acme_pump-1/i/agm_v3/t', true, 'not the token answer'],
];

runTable('the broker\'s own answers (stamped as application "trustgate"): PUBLISH', mayPublish, { ...app, clientId: 'trustgate' }, [
  ['tc/acme/acme_pump-1/i/agm_v3/tr', true, 'the token answer'],
  ['tc/acme/acme_pump-1/i/cert_v1/cert', true, 'the renewal answer'],
  ['tc/other/other_pump-1/i/agm_v3/tr', false, 'another tenant\'s agent'],
]);
runTable('application of acme with client id "acme_trustgate": PUBLISH', mayPublish, { ...app, clientId: 'acme_trustgate' }, [
  ['tc/acme/acme_pump-1/i/agm_v3/tr', false, 'a forged agent token answer'],
]);

runTable('application of acme (may publish): SUBSCRIBE', maySubscribe, app, applicationSubscribeRows);
runTable('application of acme (read only): SUBSCRIBE', maySubscribe, readOnlyApp, applicationSubscribeRows);
runTable('application of acme (may publish): PUBLISH', mayPublish, app, applicationPublishRows);
runTable('application of acme (read only): PUBLISH — refused everywhere', mayPublish, readOnlyApp,
  applicationPublishRows.map(([topic, , why]): Row => [topic, false, `read only (${why})`]));

// Tenants whose names are prefixes of each other must not see into one another.
runTable('application of acme-x: SUBSCRIBE', maySubscribe, appAcmeX, [
  ['tc/acme-x/#', true, 'own tenant'],
  ['tc/acme/#', false, 'tenant acme is a prefix of acme-x'],
  ['tc/acme', false, 'tenant acme as a topic'],
  ['tc/acme-/#', false, 'truncated tenant'],
  ['tc/acme-x-y/#', false, 'longer tenant'],
]);
runTable('application of acme-x: PUBLISH', mayPublish, appAcmeX, [
  ['tc/acme-x/acme-x_pump-1/i/cmd', true, 'own tenant\'s agent'],
  ['tc/acme/acme_pump-1/i/cmd', false, 'tenant acme is a prefix of acme-x'],
  ['tc/acme-x-y/acme-x-y_pump/i/cmd', false, 'longer tenant'],
]);
runTable('application of ac: SUBSCRIBE', maySubscribe, appAc, [
  ['tc/ac/#', true, 'own tenant'],
  ['tc/acme/#', false, 'ac is a prefix of acme'],
  ['tc/acme-x/#', false, 'ac is a prefix of acme-x'],
  ['tc/ac', false, 'tenant level without a level below'],
]);
runTable('application of ac: PUBLISH', mayPublish, appAc, [
  ['tc/ac/ac_pump-1/i/cmd', true, 'own tenant\'s agent'],
  ['tc/acme/acme_pump-1/i/cmd', false, 'ac is a prefix of acme'],
]);
runTable('agent ac_me of tenant ac vs tenant acme: PUBLISH', mayPublish, agent('ac', 'ac_me'), [
  ['tc/ac/ac_me/o/data', true, 'own outbound'],
  ['tc/acme/ac_me/o/data', false, 'same client id string under tenant acme'],
]);

// ---------------------------------------------------------------------------------------------
// CN-derived levels
// ---------------------------------------------------------------------------------------------

describe('isTopicSafeLevel (a CN becomes part of a topic level)', () => {
  const rows: readonly (readonly [string, boolean, string])[] = [
    ['pump-1', true, 'plain CN'],
    ['pump_1', true, 'underscore'],
    ['Pump 1', true, 'space'],
    ['caf\u00e9', true, 'non-ASCII letter'],
    ['$SYS', true, '`$` never starts the client-id level (it follows `<tenant>_`)'],
    ['..', true, 'MQTT has no `..`'],
    ['a\u2215b', true, 'division slash is not a separator'],
    ['x'.repeat(1000), true, 'long'],
    ['', false, 'empty'],
    ['/', false, 'slash'],
    ['a/b', false, 'slash inside'],
    ['x/i/y', false, 'would forge another agent\'s inbound tree'],
    ['pump/', false, 'trailing slash'],
    ['/pump', false, 'leading slash'],
    ['+', false, 'plus'],
    ['a+', false, 'plus inside'],
    ['#', false, 'hash'],
    ['a#b', false, 'hash inside'],
    ['\u0000', false, 'NUL'],
    ['a\u0000b', false, 'NUL inside'],
  ];
  for (const [level, expected, why] of rows) {
    test(`${expected ? 'accepts' : 'refuses'} ${show(level)} — ${why}`, () => {
      assert.equal(isTopicSafeLevel(level), expected);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Invariants over every topic above and every principal (including ones not in the tables)
// ---------------------------------------------------------------------------------------------

describe('invariants over the whole corpus', () => {
  const corpus = [...new Set([
    ...agentPublishRows, ...agentSubscribeRows, ...applicationSubscribeRows, ...applicationPublishRows,
  ].map(([topic]) => topic))];
  const principals: BrokerPrincipal[] = [
    pump, agent('acme', 'acme_pump-2'), agent('acme', 'acme_pump-10'), agent('acme-x', 'acme-x_pump-1'),
    agent('ac', 'ac_me'), app, readOnlyApp, appAcmeX, appAc, application('other', true),
  ];
  const hasWildcard = (t: string): boolean => t.includes('+') || t.includes('#');

  test('nothing is ever allowed outside tc/<own tenant>/, with `$`, NUL or empty', () => {
    for (const p of principals) {
      for (const topic of corpus) {
        for (const [op, check] of [['publish', mayPublish], ['subscribe', maySubscribe]] as const) {
          if (!check(p, topic)) continue;
          const where = `${p.kind} ${p.tenant}/${p.clientId} ${op} ${show(topic)}`;
          assert.ok(topic.startsWith(`tc/${p.tenant}/`), `outside own tenant: ${where}`);
          assert.ok(!topic.includes('\u0000') && !topic.startsWith('$') && topic.length > 0, where);
        }
      }
    }
  });

  test('an agent publishes only below its own o/ and subscribes only below its own i/', () => {
    for (const p of principals) {
      if (p.kind !== 'agent') continue;
      const o = `tc/${p.tenant}/${p.clientId}/o/`;
      const i = `tc/${p.tenant}/${p.clientId}/i/`;
      for (const topic of corpus) {
        if (mayPublish(p, topic)) assert.ok(topic.startsWith(o) && topic.length > o.length && !hasWildcard(topic), `${p.clientId} publish ${show(topic)}`);
        if (maySubscribe(p, topic)) assert.ok(topic.startsWith(i) && topic.length > i.length, `${p.clientId} subscribe ${show(topic)}`);
      }
    }
  });

  test('an application publishes only wildcard-free to tc/<tenant>/<clientId>/i/<something>, and only with mayPublish', () => {
    for (const p of principals) {
      if (p.kind !== 'application') continue;
      for (const topic of corpus) {
        if (!mayPublish(p, topic)) continue;
        assert.ok(p.mayPublish, `read-only application may publish ${show(topic)}`);
        assert.ok(!hasWildcard(topic), `wildcard published: ${show(topic)}`);
        const levels = topic.slice(`tc/${p.tenant}/`.length).split('/');
        assert.ok((levels[0] ?? '').length > 0 && levels[1] === 'i' && levels.slice(2).join('/').length > 0, show(topic));
      }
    }
  });

  test('a read-only application is refused for the missing mcmqtt.admin exactly where an admin application of its tenant may publish, else for the topic', () => {
    for (const topic of corpus) {
      const why = whyPublishRefused(readOnlyApp, topic);
      assert.equal(why, mayPublish(app, topic) ? 'missing scope mcmqtt.admin' : 'topic not allowed', show(topic));
    }
    assert.equal(whyPublishRefused(readOnlyApp, 'tc/acme/acme_pump-1/i/cmd'), 'missing scope mcmqtt.admin');
    assert.equal(whyPublishRefused(readOnlyApp, 'tc/acme/acme_pump-1/o/data'), 'topic not allowed');
    assert.equal(whyPublishRefused(readOnlyApp, 'tc/other/other_pump-1/i/cmd'), 'topic not allowed', 'another tenant: the topic, whatever the scope');
  });

  test('the refusal reason and the decision agree for every principal and topic', () => {
    for (const p of principals) {
      for (const topic of corpus) assert.equal(whyPublishRefused(p, topic) === undefined, mayPublish(p, topic), `${p.clientId} ${show(topic)}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Defence in depth: the rules are the last gate; a principal whose identity could change the
// topic structure must get nothing, whatever the caller forgot to validate.
// ---------------------------------------------------------------------------------------------

describe('principals with an identity that is not topic-safe get nothing', () => {
  // CN `x/i/y` gives client id `acme_x/i/y`: its "own" o/ would be agent acme_x's inbound tree.
  const slashCn = agent('acme', 'acme_x/i/y');
  runTable('agent with CN "x/i/y": PUBLISH', mayPublish, slashCn, [
    ['tc/acme/acme_x/i/y/o/cmd', false, 'would inject commands into agent acme_x\'s inbound'],
  ]);
  runTable('agent with CN "x/i/y": SUBSCRIBE', maySubscribe, slashCn, [
    ['tc/acme/acme_x/i/y/i/#', false, 'would read part of agent acme_x\'s inbound'],
  ]);
  runTable('agent with empty CN: PUBLISH', mayPublish, agent('acme', ''), [
    ['tc/acme//o/data', false, 'empty client id level'],
  ]);
  // A tenant is validated by the token verifier (isTenantId) today; the rules must not depend on it.
  runTable('application whose tenant is "+": SUBSCRIBE', maySubscribe, application('+', true), [
    ['tc/+/#', false, 'would subscribe to every tenant'],
  ]);
  runTable('application whose tenant is empty: SUBSCRIBE', maySubscribe, application('', true), [
    ['tc//#', false, 'empty tenant level'],
  ]);
});

// ---------------------------------------------------------------------------------------------
// The suite can fail: plausible wrong implementations each disagree with at least one row.
// ---------------------------------------------------------------------------------------------

describe('the tables catch plausible wrong implementations', () => {
  const tables: readonly (readonly [Check, BrokerPrincipal, readonly Row[]])[] = [
    [mayPublish, pump, agentPublishRows],
    [maySubscribe, pump, agentSubscribeRows],
    [maySubscribe, app, applicationSubscribeRows],
    [mayPublish, app, applicationPublishRows],
  ];
  const mutants: Record<string, (op: Check, p: BrokerPrincipal, t: string) => boolean> = {
    'allow everything': () => true,
    'deny everything': () => false,
    'prefix without trailing slash': (op, p, t) => {
      const base = p.kind === 'agent' ? `tc/${p.tenant}/${p.clientId}/${op === mayPublish ? 'o' : 'i'}` : `tc/${p.tenant}`;
      return t.startsWith(base) && t.length > base.length;
    },
    'publish ignores wildcards': (op, p, t) => op === mayPublish ? op(p, t.replaceAll('+', 'p').replaceAll('#', 'h')) : op(p, t),
    'case-insensitive': (op, p, t) => op(p, t.toLowerCase()),
    'NUL stripped': (op, p, t) => t.length > 0 && op(p, t.replaceAll('\u0000', '') || 'x'),
    '$share stripped': (op, p, t) => op(p, t.replace(/^\$share\/[^/]+\//, '')),
    'application publishes to o/ as well': (op, p, t) =>
      op(p, t) || (op === mayPublish && p.kind === 'application' && op(p, t.replace('/o/', '/i/'))),
    'agent may subscribe to its whole client-id tree': (op, p, t) =>
      op(p, t) || (op === maySubscribe && p.kind === 'agent' && t.startsWith(`tc/${p.tenant}/${p.clientId}/`)),
  };
  for (const [name, mutant] of Object.entries(mutants)) {
    test(`mutant "${name}" fails at least one row`, () => {
      const caught = tables.some(([op, p, rows]) => rows.some(([topic, expected]) => mutant(op, p, topic) !== expected));
      assert.ok(caught, `no row distinguishes mutant "${name}"`);
    });
  }
});

describe('mayReceive (checked at delivery, also for queued messages)', () => {
  const rows: readonly [BrokerPrincipal, string, boolean][] = [
    [pump, 'tc/acme/acme_pump-1/i/cmd', true],
    [pump, 'tc/acme/acme_pump-2/o/data', false],
    [pump, 'tc/acme/acme_pump-1/o/data', false],
    [pump, 'tc/other/other_x/i/cmd', false],
    [application('acme', false), 'tc/acme/acme_pump-1/o/data', true],
    [application('acme', false), 'tc/acme-x/acme-x_pump/o/data', false],
    [application('acme', true), '$SYS/broker/uptime', false],
    [application('acme', true), 'tc/acme/#', false],
    // An agent's access token answer reaches only that agent (security review of decision 0033):
    // never a tenant application of its tenant, read-only or admin, whatever it subscribed with.
    [pump, 'tc/acme/acme_pump-1/i/agm_v3/tr', true],
    [agent('acme', 'acme_pump-2'), 'tc/acme/acme_pump-1/i/agm_v3/tr', false],
    [application('acme', false), 'tc/acme/acme_pump-1/i/agm_v3/tr', false],
    [application('acme', true), 'tc/acme/acme_pump-1/i/agm_v3/tr', false],
    [application('acme', true), 'tc/acme/acme_pump-1/i/agm_v3/trx', true],
    [application('acme', true), 'tc/acme/acme_pump-1/i/agm_v3/t', true],
    [application('acme', true), 'tc/acme/acme_pump-1/i/cmd_v3/c', true],
  ];
  for (const [principal, topic, expected] of rows) {
    test(`${principal.kind} ${principal.clientId} ${expected ? 'receives' : 'never receives'} ${topic}`, () => {
      assert.equal(mayReceive(principal, topic), expected);
    });
  }
});
