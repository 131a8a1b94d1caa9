import type { ClusterFigures } from '../scenarios/cluster.ts';
import type { ConnectFigures, ConnectStormFigures } from '../scenarios/connect-storm.ts';
import type { MemoryFigures } from '../scenarios/memory.ts';
import type { CpuLimitFigures } from '../scenarios/openssl-speed.ts';
import type { RestFigures } from '../scenarios/rest.ts';
import type { ThroughputCase, ThroughputFigures } from '../scenarios/throughput.ts';
import type { TrustIndexFigures } from '../scenarios/trust-index.ts';
import type { RevokedSerialsFigures } from '../scenarios/revoked-serials.ts';
import type { Parameters } from './parameters.ts';
import { DISTURBED_SHARE } from './processes.ts';
import { round } from './stats.ts';

export interface Pair<T> {
  readonly trustgate?: T | undefined;
  readonly mosquitto?: T | undefined;
}

export interface Results {
  readonly startedAt: string;
  finishedAt?: string;
  wallSeconds?: number;
  quietWaitSeconds?: number;
  readonly mode: 'quick' | 'full';
  readonly machine: Record<string, unknown>;
  readonly versions: Record<string, unknown>;
  readonly parameters: Parameters;
  cpuLimit?: CpuLimitFigures;
  connectStorm?: ConnectStormFigures;
  throughput?: ThroughputCase[];
  trustIndex?: TrustIndexFigures;
  revokedSerials?: RevokedSerialsFigures;
  memory?: Pair<MemoryFigures>;
  rest?: { register: RestFigures; list: RestFigures };
  cluster?: ClusterFigures;
  targets: Target[];
  readonly scenarioSeconds: Record<string, number>;
  readonly errors: { scenario: number; message: string }[];
  readonly notes: string[];
  table?: string;
  /** Measurements during which other programs took over 10 % of the machine. */
  disturbed?: string[];
}

export interface Target {
  readonly scenario: number;
  readonly what: string;
  readonly value: number;
  readonly target: string;
  readonly isMet: boolean;
  /** How far from the target, in percent of the target (0 when met). */
  readonly shortByPercent: number;
}

const fmt = (value: number | undefined, digits = 0): string =>
  value === undefined || !Number.isFinite(value) ? '—' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratioOf = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;
const times = (ratio: number | undefined): string => ratio === undefined ? '—' : `${ratio.toFixed(2)}×`;
const percent = (share: number | undefined): string => share === undefined ? '—' : `${Math.round(share * 100)} %`;

const atLeast = (scenario: number, what: string, value: number | undefined, minimum: number, target: string): Target | undefined =>
  value === undefined ? undefined : { scenario, what, value: round(value, 3), target, isMet: value >= minimum, shortByPercent: value >= minimum ? 0 : round((1 - value / minimum) * 100, 1) };
const atMost = (scenario: number, what: string, value: number | undefined, maximum: number, target: string): Target | undefined =>
  value === undefined ? undefined : { scenario, what, value: round(value, 3), target, isMet: value <= maximum, shortByPercent: value <= maximum ? 0 : round((value / maximum - 1) * 100, 1) };

export const mark = (target: Target | undefined): string =>
  target === undefined ? '—' : target.isMet ? 'pass' : `**short** by ${target.shortByPercent} %`;

const RSS_TARGET_KIB = 30;
const REST_P99_TARGET_MS = 20;

// One markdown table: both brokers' figures, their ratio (trustgate / Mosquitto), the target and
// whether it is met; rows without a target are context (latency, CPU cost, saturation).
export const buildReport = (results: Results): { table: string; targets: Target[] } => {
  const p = results.parameters;
  const rows: string[][] = [];
  const targets: Target[] = [];
  const row = (id: number | '', scenario: string, figure: string, trustgate: string, mosquitto: string, ratio: string, target = '', markText = '') =>
    rows.push([String(id), scenario, figure, trustgate, mosquitto, ratio, target, markText]);
  const keep = (target: Target | undefined): Target | undefined => {
    if (target) targets.push(target);
    return target;
  };

  const limit = results.cpuLimit;
  if (results.connectStorm) {
    const concurrency = p.workers * p.connect.concurrencyPerWorker;
    for (const [name, pair] of [['first connects (trustgate onboards)', results.connectStorm.firstConnects], ['reconnects (known agents)', results.connectStorm.reconnects]] as const) {
      const t = pair.trustgate;
      const m = pair.mosquitto;
      const ratio = ratioOf(t?.perSecond, m?.perSecond);
      const target = keep(atLeast(1, `connect rate, ${name}`, ratio, 1, '≥ 1.0× Mosquitto'));
      row(1, `${name}: ${fmt(p.connect.agents)} agents, ${concurrency} in flight, ${p.workers} processes`, 'connects/s',
        fmt(t?.perSecond), fmt(m?.perSecond), times(ratio), '≥ 1.0× Mosquitto', mark(target));
      row('', '', 'p50 / p99 connect latency, ms', t ? `${fmt(t.p50Ms, 1)} / ${fmt(t.p99Ms, 1)}` : '—', m ? `${fmt(m.p50Ms, 1)} / ${fmt(m.p99Ms, 1)}` : '—', times(ratioOf(t?.p99Ms, m?.p99Ms)));
      row('', '', 'broker CPU s per 1,000 connects', fmt(t?.cpuSecondsPer1000, 2), fmt(m?.cpuSecondsPer1000, 2), times(ratioOf(t?.cpuSecondsPer1000, m?.cpuSecondsPer1000)));
      row('', '', 'broker CPU busy (1 core = 100 %)', percent(t?.brokerCpuShare), percent(m?.brokerCpuShare), '');
      const capacity = (f: ConnectFigures | undefined) => f && f.cpuSecondsPer1000 > 0 ? 1000 / f.cpuSecondsPer1000 : undefined;
      row('', '', 'connects/s one broker core could take (1,000 ÷ CPU s per 1,000)', fmt(capacity(t)), fmt(capacity(m)), times(ratioOf(capacity(t), capacity(m))));
      row('', '', 'load generator CPU ms per connect', fmt(t?.loadCpuMsPerConnect, 2), fmt(m?.loadCpuMsPerConnect, 2), '');
      if (limit) {
        row('', '', 'connects/s as share of the signature limit (row 6)', percent(t && t.perSecond / limit.handshakesPerCoreSecond.node),
          percent(m && m.perSecond / limit.handshakesPerCoreSecond.openssl), '');
      }
      if ((t?.failures ?? 0) + (m?.failures ?? 0) > 0) row('', '', 'failed connects', fmt(t?.failures), fmt(m?.failures), '');
    }
  }
  if (limit) {
    row(6, 'CPU limit, one core: node:crypto (trustgate\'s OpenSSL) beside `openssl speed -seconds 1 ecdsap256 rsa2048` (Mosquitto\'s)', 'ECDSA P-256 sign/s · verify/s',
      `${fmt(limit.nodeEcdsaP256.signPerSecond)} · ${fmt(limit.nodeEcdsaP256.verifyPerSecond)}`, `${fmt(limit.ecdsaP256.signPerSecond)} · ${fmt(limit.ecdsaP256.verifyPerSecond)}`, '');
    row('', '', 'RSA-2048 sign/s · verify/s (openssl speed)', '', `${fmt(limit.rsa2048.signPerSecond)} · ${fmt(limit.rsa2048.verifyPerSecond)}`, '');
    row('', '', 'mutual-TLS handshakes/s if only signatures cost (1 sign + 2 verify)', fmt(limit.handshakesPerCoreSecond.node), fmt(limit.handshakesPerCoreSecond.openssl), '');
  }
  for (const c of results.throughput ?? []) {
    const t = c.saturated.trustgate;
    const m = c.saturated.mosquitto;
    const ratio = ratioOf(t?.perSecond, m?.perSecond);
    const target = keep(atLeast(2, `throughput, ${c.label}`, ratio, 1, '≥ 1.0× Mosquitto'));
    const writes = c.batchMessages === 1 ? 'one message per write' : `${c.batchMessages} messages per write`;
    row(2, `${c.label} (${p.throughput.payloadBytes} B, ${writes}): ${p.throughput.seconds} s as fast as it goes, ${fmt(p.throughput.window)} in flight`, 'messages/s',
      fmt(t?.perSecond), fmt(m?.perSecond), times(ratio), '≥ 1.0× Mosquitto', mark(target));
    row('', '', 'broker CPU s per 100k messages', fmt(t?.cpuSecondsPer100k, 2), fmt(m?.cpuSecondsPer100k, 2), times(ratioOf(t?.cpuSecondsPer100k, m?.cpuSecondsPer100k)));
    row('', '', 'broker CPU busy', percent(t?.brokerCpuShare), percent(m?.brokerCpuShare), '');
    const loadPer100k = (f: ThroughputFigures | undefined) => f && f.received > 0 ? f.loadCpuSeconds * 100_000 / f.received : undefined;
    row('', '', 'load generator CPU s per 100k messages', fmt(loadPer100k(t), 2), fmt(loadPer100k(m), 2), '');
    row('', '', 'p99 end-to-end latency at that rate, ms', fmt(t?.p99Ms, 1), fmt(m?.p99Ms, 1), times(ratioOf(t?.p99Ms, m?.p99Ms)));
    const pt = c.paced.trustgate;
    const pm = c.paced.mosquitto;
    row('', '', `p50 / p99 end-to-end latency at ${fmt(p.throughput.latencyRatePerSecond)} msg/s offered, ms`,
      pt ? `${fmt(pt.p50Ms, 2)} / ${fmt(pt.p99Ms, 2)}` : '—', pm ? `${fmt(pm.p50Ms, 2)} / ${fmt(pm.p99Ms, 2)}` : '—', times(ratioOf(pt?.p99Ms, pm?.p99Ms)));
    const lost = (f: ThroughputFigures | undefined) => f ? f.sent - f.received : undefined;
    const lostAll = [t, m, pt, pm].reduce((sum, f) => sum + (lost(f) ?? 0), 0);
    if (lostAll > 0) row('', '', 'messages sent but not received (rate run / latency run)', `${fmt(lost(t))} / ${fmt(lost(pt))}`, `${fmt(lost(m))} / ${fmt(lost(pm))}`, '');
  }
  const trust = results.trustIndex;
  if (trust) {
    const large = trust.caCertificates.large;
    const target = keep(atLeast(3, `connect rate with ${large} CAs vs 2`, trust.ratio, 0.95, '≥ 0.95× the rate with 2'));
    const spread = (which: 'small' | 'large') => {
      const rates = trust.rounds.map((r) => r[which].perSecond);
      return `${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}`;
    };
    row(3, `trust index: ${fmt(large)} CAs (${fmt(large / 2)} tenants × 2) vs 2, ${fmt(p.trustIndex.agents)} agents, median of ${p.trustIndex.rounds} alternating rounds`,
      `reconnects/s with ${fmt(large)} CAs (rounds' range)`, `${fmt(trust.reconnectsPerSecond.large)} (${spread('large')})`, '—', `${trust.ratio.toFixed(2)}× (vs 2 CAs)`, '≥ 0.95× the rate with 2', mark(target));
    row('', '', 'reconnects/s with 2 CAs (rounds\' range)', `${fmt(trust.reconnectsPerSecond.small)} (${spread('small')})`, '—', '');
    row('', '', `first connects/s, 2 → ${fmt(large)} CAs`, `${fmt(trust.firstConnects.small.perSecond)} → ${fmt(trust.firstConnects.large.perSecond)}`, '—',
      times(ratioOf(trust.firstConnects.large.perSecond, trust.firstConnects.small.perSecond)));
    row('', '', `start time s, RSS at start MiB: 2 → ${fmt(large)} CAs`,
      `${fmt(trust.startSeconds.small, 1)} → ${fmt(trust.startSeconds.large, 1)} s, ${fmt(trust.rssKiBAtStart.small / 1024)} → ${fmt(trust.rssKiBAtStart.large / 1024)} MiB`, '—', '');
  }
  const revoked = results.revokedSerials;
  if (revoked) {
    const target = keep(atLeast(8, `reconnect rate with ${revoked.revokedSerials} revoked serials per CA vs none`, revoked.ratio, 0.95, '≥ 0.95× the rate with none'));
    row(8, `revoked serials: ${fmt(revoked.revokedSerials)} per CA (a CRL) vs none, ${fmt(p.revokedSerials.agents)} agents, median of ${p.revokedSerials.rounds} alternating rounds`,
      'reconnects/s with revoked serials', fmt(revoked.reconnectsPerSecond.revoked), '—', `${revoked.ratio.toFixed(2)}× (vs none)`, '≥ 0.95× the rate with none', mark(target));
    row('', '', 'reconnects/s with none', fmt(revoked.reconnectsPerSecond.none), '—', '');
  }
  if (results.memory) {
    const stages = results.memory.trustgate?.stages ?? results.memory.mosquitto?.stages ?? [];
    for (const [i, stage] of stages.entries()) {
      const t = results.memory.trustgate?.stages[i];
      const m = results.memory.mosquitto?.stages[i];
      const target = keep(atMost(4, `RSS per idle agent at ${stage.agents}`, t?.kiBPerAgent, RSS_TARGET_KIB, `≤ ${RSS_TARGET_KIB} KiB`));
      row(4, `memory: ${fmt(stage.agents)} idle connected agents`, 'RSS per idle agent, KiB', fmt(t?.kiBPerAgent, 1), fmt(m?.kiBPerAgent, 1),
        times(ratioOf(t?.kiBPerAgent, m?.kiBPerAgent)), `≤ ${RSS_TARGET_KIB} KiB`, mark(target));
      row('', '', 'RSS, MiB (baseline → loaded)', t ? `${fmt(results.memory.trustgate!.baselineRssKiB / 1024, 1)} → ${fmt(t.rssKiB / 1024, 1)}` : '—',
        m ? `${fmt(results.memory.mosquitto!.baselineRssKiB / 1024, 1)} → ${fmt(m.rssKiB / 1024, 1)}` : '—', '');
      if ((t && t.open !== t.agents) || (m && m.open !== m.agents)) row('', '', 'connections open when read', fmt(t?.open), fmt(m?.open), '');
    }
  }
  if (results.rest) {
    for (const [name, figures, rate] of [
      ['REST upload + registration code + verify', results.rest.register, `requests/s (${fmt(results.rest.register.flowsPerSecond, 1)} CAs verified/s)`],
      ['REST GET /caCertificates', results.rest.list, 'requests/s'],
    ] as const) {
      const target = keep(atMost(5, `${name} p99`, figures.p99Ms, REST_P99_TARGET_MS, `≤ ${REST_P99_TARGET_MS} ms`));
      row(5, `${name}, ${p.rest.concurrency} concurrent`, rate, fmt(figures.requestsPerSecond), '—', '');
      row('', '', 'p50 / p99 latency per request, ms', `${fmt(figures.p50Ms, 1)} / ${fmt(figures.p99Ms, 1)}`, '—', '', `p99 ≤ ${REST_P99_TARGET_MS} ms`, mark(target));
      if (figures.failures > 0) row('', '', 'failed requests', fmt(figures.failures), '—', '');
    }
  }
  const header = ['#', 'scenario', 'figure', 'trustgate', 'Mosquitto', 'ratio', 'target', 'mark'];
  const lines = [
    `| ${header.join(' | ')} |`,
    '|---|---|---|---:|---:|---:|---|---|',
    ...rows.map((cells) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`),
  ];
  const cluster = clusterTable(results);
  const tables = [...(rows.length > 0 || !cluster ? [lines.join('\n')] : []), ...(cluster ? [cluster] : [])];
  return { table: tables.join('\n\n'), targets };
};

const WATCHED = ['node 1', 'node 2', 'redis-server'] as const;

// Scenario 7 has a table of its own: its columns are one node and two nodes (no Mosquitto, no
// targets), with scenario 2's trustgate on its embedded SQLite default beside them for context.
const clusterTable = (results: Results): string | undefined => {
  const cluster = results.cluster;
  if (!cluster) return undefined;
  const p = results.parameters;
  const rows: string[][] = [];
  const row = (id: number | '', scenario: string, figure: string, one: string, two: string, ratio: string, sqlite = '') =>
    rows.push([String(id), scenario, figure, one, two, ratio, sqlite]);
  const watched = (f: ThroughputFigures | undefined, label: string) => f?.watched?.find((w) => w.label === label);
  const cpuSum = (f: ThroughputFigures | undefined) => f?.watched?.reduce((sum, w) => sum + w.cpuSecondsPer100k, 0);
  const cpuParts = (f: ThroughputFigures | undefined) => f?.watched
    ? `${WATCHED.map((label) => fmt(watched(f, label)?.cpuSecondsPer100k, 2)).join(' + ')} = ${fmt(cpuSum(f), 2)}` : '—';
  const busy = (f: ThroughputFigures | undefined) => f?.watched ? WATCHED.map((label) => percent(watched(f, label)?.cpuShare)).join(' · ') : '—';
  const latency = (f: ThroughputFigures | undefined) => f ? `${fmt(f.p50Ms, 2)} / ${fmt(f.p99Ms, 2)}` : '—';
  for (const k of cluster.cases) {
    const one = k.oneNode.saturated;
    const two = k.twoNodes.saturated;
    // Scenario 2's trustgate (SQLite, no Redis) in the same case, when it ran with the same agents.
    const sqlite = results.throughput?.find((c) => c.qos === k.qos && c.agents === k.agents && c.batchMessages === k.batchMessages)?.saturated.trustgate;
    const writes = k.batchMessages === 1 ? 'one message per write' : `${k.batchMessages} messages per write`;
    const where = k.agents === 1 ? 'two nodes: agent on node 1, application on node 2 (cross-node)'
      : `two nodes: ${fmt(Math.ceil(k.agents / 2))} + ${fmt(Math.floor(k.agents / 2))} agents on nodes 1 + 2, application on node 2`;
    row(7, `cluster: ${k.label} (${p.throughput.payloadBytes} B, ${writes}), ${p.cluster.seconds} s as fast as it goes; one node: all on node 1; ${where}`, 'messages/s',
      fmt(one?.perSecond), fmt(two?.perSecond), times(ratioOf(two?.perSecond, one?.perSecond)), fmt(sqlite?.perSecond));
    row('', '', 'p99 end-to-end latency at that rate, ms', fmt(one?.p99Ms, 1), fmt(two?.p99Ms, 1), times(ratioOf(two?.p99Ms, one?.p99Ms)), fmt(sqlite?.p99Ms, 1));
    row('', '', 'CPU s per 100k messages: node 1 + node 2 + redis-server = all', cpuParts(one), cpuParts(two), times(ratioOf(cpuSum(two), cpuSum(one))),
      sqlite ? `${fmt(sqlite.cpuSecondsPer100k, 2)} (node)` : '');
    row('', '', 'CPU busy: node 1 · node 2 · redis-server (1 core = 100 %)', busy(one), busy(two), '', sqlite ? percent(sqlite.brokerCpuShare) : '');
    const perReceived = (through: number | undefined, f: ThroughputFigures | undefined) =>
      through === undefined || !f ? '—' : `${fmt(through)} (${fmt(f.received > 0 ? through / f.received : undefined, 2)} per message)`;
    row('', '', 'client messages through Redis in the rate run', perReceived(k.throughRedis?.oneNode, one), perReceived(k.throughRedis?.twoNodes, two), '');
    if (k.oneNode.paced || k.twoNodes.paced) {
      row('', '', `p50 / p99 end-to-end latency at ${fmt(p.cluster.latencyRatePerSecond)} msg/s offered, ms`, latency(k.oneNode.paced), latency(k.twoNodes.paced),
        times(ratioOf(k.twoNodes.paced?.p99Ms, k.oneNode.paced?.p99Ms)));
    }
    const lost = (f: ThroughputFigures | undefined) => f ? f.sent - f.received : undefined;
    const runs = [one, k.oneNode.paced, two, k.twoNodes.paced];
    if (runs.some((f) => (lost(f) ?? 0) > 0)) {
      row('', '', 'messages sent but not received (rate run / latency run)', `${fmt(lost(one))} / ${fmt(lost(k.oneNode.paced))}`, `${fmt(lost(two))} / ${fmt(lost(k.twoNodes.paced))}`, '');
    }
  }
  const header = ['#', 'scenario', 'figure', 'one node (PostgreSQL + Redis)', 'two nodes', 'ratio (two ÷ one)', 'one node, SQLite (scenario 2)'];
  return [
    `| ${header.join(' | ')} |`,
    '|---|---|---|---:|---:|---:|---:|',
    ...rows.map((cells) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`),
  ].join('\n');
};

/**
 * Passes during which other programs used a noticeable share of the machine (figures from those
 * passes are not comparable): `other CPU s / (wall s × cores)` above 10 %.
 */
export const disturbedPasses = (results: Results, cores: number): string[] => {
  const passes: [string, { otherCpuSeconds: number; otherCpuTop: readonly string[]; seconds: number } | undefined][] = [];
  const storm = results.connectStorm;
  if (storm) {
    for (const [name, pair] of [['first connects', storm.firstConnects], ['reconnects', storm.reconnects]] as const) {
      passes.push([`${name} trustgate`, pair.trustgate], [`${name} Mosquitto`, pair.mosquitto]);
    }
  }
  for (const c of results.throughput ?? []) {
    passes.push([`${c.label} trustgate`, c.saturated.trustgate], [`${c.label} Mosquitto`, c.saturated.mosquitto]);
    passes.push([`${c.label} at fixed rate, trustgate`, c.paced.trustgate], [`${c.label} at fixed rate, Mosquitto`, c.paced.mosquitto]);
  }
  if (results.rest) passes.push(['REST upload + verify', results.rest.register], ['REST GET /caCertificates', results.rest.list]);
  for (const k of results.cluster?.cases ?? []) {
    for (const [which, name] of [['oneNode', 'one node'], ['twoNodes', 'two nodes']] as const) {
      passes.push([`cluster ${k.label}, ${name}`, k[which].saturated], [`cluster ${k.label} at fixed rate, ${name}`, k[which].paced]);
    }
  }
  for (const [r, round] of (results.trustIndex?.rounds ?? []).entries()) {
    passes.push([`trust index round ${r + 1}, 2 CAs`, round.small], [`trust index round ${r + 1}, large`, round.large]);
  }
  return passes.flatMap(([name, figures]) => {
    if (!figures || figures.seconds <= 0) return [];
    const share = figures.otherCpuSeconds / (figures.seconds * cores);
    return share > DISTURBED_SHARE ? [`${name} (${Math.round(share * 100)} %${figures.otherCpuTop[0] ? `, mostly ${figures.otherCpuTop[0]}` : ''})`] : [];
  });
};

export const summaryLines = (results: Results): string[] => {
  const short = results.targets.filter((t) => !t.isMet);
  return [
    results.targets.length === 0 ? 'No targets in the scenarios run.'
      : short.length === 0 ? `All ${results.targets.length} targets met.` : `${short.length} of ${results.targets.length} targets short:`,
    ...short.map((t) => `- ${t.what}: ${t.value} (target ${t.target}) — short by ${t.shortByPercent} %`),
  ];
};
