import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { exposedNames } from './support/metrics-text.ts';
import { deleteKeysUnder, redisAdmin, TEST_REDIS_URL, uniqueRedisPrefix } from './support/redis-helpers.ts';
import { startTestServer, type TestServer } from './support/start-test-server.ts';
import { describeNeeding } from './support/test-services.ts';

// The Grafana dashboard and the Prometheus alert rules we ship (deploy/) must only name metrics a
// trustgate node exports: a renamed or removed family would leave an empty panel or an alert that
// can never fire. Every `expr` is read, its metric names picked out, and each one looked up on the
// /metrics of two real nodes: a single node (SQLite) and a cluster node (PostgreSQL + Redis), since
// some families exist on one kind only (Redis probes; the queued-message gauge).

const DASHBOARD = new URL('../deploy/grafana-dashboard.json', import.meta.url);
const ALERTS = new URL('../deploy/prometheus-alerts.yml', import.meta.url);

// Series Prometheus itself adds to every target: not on /metrics by nature.
const PROMETHEUS_SERIES = new Set(['up']);
const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/** The metric names a PromQL expression selects (functions, labels, durations and variables left out). */
export const metricNamesIn = (expr: string): string[] => {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ');
  const names: string[] = [];
  for (const match of bare.matchAll(/[$]?[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const rest = bare.slice(match.index + word.length).trimStart();
    if (word.startsWith('$') || rest.startsWith('(') || PROMQL_WORDS.has(word.toLowerCase())) continue;
    if (/^\d/.test(word)) continue;
    names.push(word);
  }
  return names;
};

interface Reference { readonly where: string; readonly expr: string }

const dashboardExpressions = (dashboard: any): Reference[] => {
  const references: Reference[] = [];
  const panels = (list: any[]): void => {
    for (const panel of list ?? []) {
      for (const target of panel.targets ?? []) references.push({ where: `panel "${panel.title}"`, expr: target.expr });
      panels(panel.panels);
    }
  };
  panels(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    const query: string | undefined = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    // label_values(metric, label): the label is no metric.
    const metric = query && /^label_values\(([^,{]+)/.exec(query)?.[1]?.trim();
    if (metric) references.push({ where: `variable "${variable.name}"`, expr: metric });
  }
  return references;
};

// The alert file keeps each expr on one line (`expr: <PromQL>`), so this stays a line read.
const alertExpressions = (yaml: string): Reference[] => [...yaml.matchAll(/^\s*-?\s*alert:\s*(\S+)\s*\n\s*expr:\s*(.+)$/gm)]
  .map(([, alert, expr]) => ({ where: `alert ${alert}`, expr: expr!.trim() }));

const scrape = async (server: TestServer): Promise<string> => {
  const response = await fetch(`${server.url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
};

describeNeeding('postgres', 'redis')('deploy/grafana-dashboard.json and deploy/prometheus-alerts.yml', { timeout: 60_000 }, () => {
  let single: TestServer;
  let clustered: TestServer;
  const redisPrefix = uniqueRedisPrefix('deploy-metrics');
  before(async () => {
    // With the default rate limits (test servers run without them): their families exist only then.
    single = await startTestServer({ TRUSTGATE_RATE_LIMITS: 'mindconnect' });
    clustered = await startTestServer({
      TRUSTGATE_REDIS_URL: TEST_REDIS_URL, TRUSTGATE_REDIS_PREFIX: redisPrefix, TRUSTGATE_NODE_ID: 'deploy-metrics', TRUSTGATE_RATE_LIMITS: 'mindconnect',
    }, { dialect: 'postgres' });
  });
  after(async () => {
    await single?.close();
    await clustered?.close();
    const admin = redisAdmin();
    try {
      await deleteKeysUnder(admin, redisPrefix);
    } finally {
      admin.disconnect();
    }
  });

  it('the expression reader finds metric names and only them', () => {
    assert.deepEqual(metricNamesIn('histogram_quantile(0.99, sum by (instance, le) (rate(a_seconds_bucket{route!~"/x|y"}[5m]))) > 0.1'), ['a_seconds_bucket']);
    assert.deepEqual(metricNamesIn('sum(b) < 0.5 * sum(b offset 10m) and count(count by (version) (c_info)) > 1'), ['b', 'b', 'c_info']);
    assert.deepEqual(metricNamesIn('sum by (reason) (rate(d_total{instance=~"$instance"}[$__rate_interval])) / up == 0'), ['d_total', 'up']);
  });

  it('every metric an alert or a panel names is on a running node\'s /metrics', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8'));
    const references = [...dashboardExpressions(dashboard), ...alertExpressions(await readFile(ALERTS, 'utf8'))];
    // Guards against a reader that silently finds nothing.
    assert.ok(references.filter((ref) => ref.where.startsWith('alert')).length >= 15, 'alert expressions read');
    assert.ok(references.filter((ref) => ref.where.startsWith('panel')).length >= 25, 'panel expressions read');
    const exposed = new Set([...exposedNames(await scrape(single)), ...exposedNames(await scrape(clustered))]);
    const missing = references.flatMap(({ where, expr }) => {
      const names = metricNamesIn(expr);
      if (names.length === 0) return [`${where}: no metric in ${expr}`];
      return names.filter((name) => !exposed.has(name) && !PROMETHEUS_SERIES.has(name)).map((name) => `${where}: ${name}`);
    });
    assert.deepEqual(missing, []);
  });

  it('every trustgate_ family a node exports is described in docs/metrics.md', async () => {
    const documented = await readFile(new URL('../docs/metrics.md', import.meta.url), 'utf8');
    const families = [single, clustered].map(async (server) => [...(await scrape(server)).matchAll(/^# TYPE (trustgate_\S+) /gm)].map(([, name]) => name!));
    const undocumented = [...new Set((await Promise.all(families)).flat())].filter((name) => !documented.includes(`\`${name}\``));
    assert.deepEqual(undocumented, []);
  });
});
