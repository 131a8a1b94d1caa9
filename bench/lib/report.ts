import type { ClusterFigures } from '../scenarios/cluster.ts';
import type { ConnectFigures, ConnectStormFigures, PerBroker } from '../scenarios/connect-storm.ts';
import type { MemoryFigures } from '../scenarios/memory.ts';
import type { CpuLimitFigures } from '../scenarios/openssl-speed.ts';
import type { RestFigures } from '../scenarios/rest.ts';
import type { ThroughputCase, ThroughputFigures } from '../scenarios/throughput.ts';
import type { TrustIndexFigures } from '../scenarios/trust-index.ts';
import type { RevokedSerialsFigures } from '../scenarios/revoked-serials.ts';
import type { LoopFigures, ReconnectStormFigures } from '../scenarios/reconnect-storm.ts';
import type { FirstConnectStormFigures, StormRunFigures } from '../scenarios/first-connect-storm.ts';
import type { RestWritesFigures } from '../scenarios/rest-writes.ts';
import type { Parameters } from './parameters.ts';
import { DISTURBED_SHARE } from './processes.ts';
import { clusterReport } from './cluster-report.ts';
import { atLeast, atMost, fmt, mark, percent, ratioOf, times, type Target } from './report-format.ts';

export type { Target } from './report-format.ts';

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
  memory?: PerBroker<MemoryFigures>;
  rest?: { register: RestFigures; list: RestFigures };
  cluster?: ClusterFigures;
  reconnectStorm?: ReconnectStormFigures;
  firstConnectStorm?: FirstConnectStormFigures;
  restWrites?: RestWritesFigures;
  targets: Target[];
  readonly scenarioSeconds: Record<string, number>;
  readonly errors: { scenario: number; message: string }[];
  readonly notes: string[];
  table?: string;
  /** Measurements during which other programs took over 10 % of the machine. */
  disturbed?: string[];
}

/** Outcome counts, most frequent first: "CONNACK 0 ×4,120, CONNACK 5 ×3". */
const outcomesText = (outcomes: Readonly<Record<string, number>> | undefined): string => outcomes === undefined ? '—'
  : Object.entries(outcomes).sort((a, b) => b[1] - a[1]).map(([outcome, n]) => `${outcome} ×${fmt(n)}`).join(', ') || 'none';
const RSS_TARGET_KIB = 30;
// Issue 18: trustgate beside what it is built on.
const CONNECT_CPU_OVER_BARE_TLS = 1.15;
const MESSAGE_CPU_OVER_BARE_AEDES = 1.15;
const RSS_OVER_BARE_TLS_KIB = 10;

/** The TLS version, cipher and key-exchange group the load generator negotiated with each broker, per pass. */
export const tlsNotes = (storm: ConnectStormFigures, groups: string | undefined): string[] => {
  const show = (f: ConnectFigures | undefined) => f?.tls ? `${f.tls.protocol} ${f.tls.cipher} ${f.tls.group ?? ''}`.trim() : '—';
  const line = (pass: PerBroker<ConnectFigures>, offering: string) =>
    `TLS negotiated by the load generator (${offering}): bare node:tls ${show(pass.bareTls)}, bare aedes ${show(pass.bareAedes)}, trustgate ${show(pass.trustgate)}, Mosquitto ${show(pass.mosquitto)}`;
  return [
    line(storm.firstConnects, groups ? `offering ${groups}; the Node servers configured with the same groups` : 'Node defaults'),
    ...(storm.reconnectsX25519 ? [line(storm.reconnectsX25519, 'offering X25519 only, the like-for-like row')] : []),
  ];
};
const REST_P99_TARGET_MS = 20;

// One markdown table: both brokers' figures, their ratio (trustgate / Mosquitto), the target and
// whether it is met; rows without a target are context (latency, CPU cost, saturation).
export const buildReport = (results: Results): { table: string; targets: Target[] } => {
  const p = results.parameters;
  const rows: string[][] = [];
  const targets: Target[] = [];
  const row = (id: number | '', scenario: string, figure: string, trustgate: string, mosquitto: string, ratio: string, target = '', markText = '') => {
    rows.push([String(id), scenario, figure, trustgate, mosquitto, ratio, target, markText]);
    bareCells.push(undefined);
  };
  // The baselines' columns (bare node:tls, bare aedes, trustgate ÷ bare) of the row just added.
  const bareCells: (readonly [string, string, string] | undefined)[] = [];
  const bare = (tls: string, aedes: string, ratio: string) => {
    bareCells[bareCells.length - 1] = [tls, aedes, ratio];
  };
  const overBare = (t: number | undefined, tls: number | undefined, aedes: number | undefined) =>
    [tls === undefined ? '' : `${times(ratioOf(t, tls))} TLS`, aedes === undefined ? '' : `${times(ratioOf(t, aedes))} aedes`].filter(Boolean).join(' · ');
  const keep = (target: Target | undefined): Target | undefined => {
    if (target) targets.push(target);
    return target;
  };

  const limit = results.cpuLimit;
  if (results.connectStorm) {
    const concurrency = p.workers * p.connect.concurrencyPerWorker;
    const passes = [
      ['first connects (trustgate onboards)', results.connectStorm.firstConnects],
      ['reconnects (known agents)', results.connectStorm.reconnects],
      ...(results.connectStorm.reconnectsX25519 ? [['reconnects, X25519 only offered (like for like: every server on X25519)', results.connectStorm.reconnectsX25519] as const] : []),
    ] as const;
    for (const [name, pair] of passes) {
      const t = pair.trustgate;
      const m = pair.mosquitto;
      const bt = pair.bareTls;
      const ba = pair.bareAedes;
      const ratio = ratioOf(t?.perSecond, m?.perSecond);
      const target = keep(atLeast(1, `connect rate, ${name}`, ratio, 1, '≥ 1.0× Mosquitto'));
      row(1, `${name}: ${fmt(p.connect.agents)} agents, ${concurrency} in flight, ${p.workers} processes`, 'connects/s',
        fmt(t?.perSecond), fmt(m?.perSecond), times(ratio), '≥ 1.0× Mosquitto', mark(target));
      bare(fmt(bt?.perSecond), fmt(ba?.perSecond), overBare(t?.perSecond, bt?.perSecond, ba?.perSecond));
      const latency = (f: ConnectFigures | undefined) => f ? `${fmt(f.p50Ms, 1)} / ${fmt(f.p99Ms, 1)}` : '—';
      row('', '', 'p50 / p99 connect latency, ms', latency(t), latency(m), times(ratioOf(t?.p99Ms, m?.p99Ms)));
      bare(latency(bt), latency(ba), overBare(t?.p99Ms, bt?.p99Ms, ba?.p99Ms));
      // Issue 18: what trustgate adds to a connect beyond node:tls (reading the certificate, CONNACK).
      const overTls = ratioOf(t?.cpuSecondsPer1000, bt?.cpuSecondsPer1000);
      const cpuTarget = name.startsWith('first') ? undefined
        : keep(atMost(1, `broker CPU per connect ÷ bare node:tls, ${name}`, overTls, CONNECT_CPU_OVER_BARE_TLS, `≤ ${CONNECT_CPU_OVER_BARE_TLS}× bare node:tls`));
      row('', '', 'broker CPU s per 1,000 connects', fmt(t?.cpuSecondsPer1000, 2), fmt(m?.cpuSecondsPer1000, 2), times(ratioOf(t?.cpuSecondsPer1000, m?.cpuSecondsPer1000)),
        cpuTarget ? `≤ ${CONNECT_CPU_OVER_BARE_TLS}× bare node:tls` : '', cpuTarget ? mark(cpuTarget) : '');
      bare(fmt(bt?.cpuSecondsPer1000, 2), fmt(ba?.cpuSecondsPer1000, 2), overBare(t?.cpuSecondsPer1000, bt?.cpuSecondsPer1000, ba?.cpuSecondsPer1000));
      row('', '', 'broker CPU busy (1 core = 100 %)', percent(t?.brokerCpuShare), percent(m?.brokerCpuShare), '');
      bare(percent(bt?.brokerCpuShare), percent(ba?.brokerCpuShare), '');
      const capacity = (f: ConnectFigures | undefined) => f && f.cpuSecondsPer1000 > 0 ? 1000 / f.cpuSecondsPer1000 : undefined;
      row('', '', 'connects/s one broker core could take (1,000 ÷ CPU s per 1,000)', fmt(capacity(t)), fmt(capacity(m)), times(ratioOf(capacity(t), capacity(m))));
      bare(fmt(capacity(bt)), fmt(capacity(ba)), overBare(capacity(t), capacity(bt), capacity(ba)));
      row('', '', 'load generator CPU ms per connect', fmt(t?.loadCpuMsPerConnect, 2), fmt(m?.loadCpuMsPerConnect, 2), '');
      bare(fmt(bt?.loadCpuMsPerConnect, 2), fmt(ba?.loadCpuMsPerConnect, 2), '');
      row('', '', 'TLS key-exchange group negotiated', t?.tls?.group ?? '—', m?.tls?.group ?? '—', '');
      bare(bt?.tls?.group ?? '—', ba?.tls?.group ?? '—', '');
      if (limit) {
        row('', '', 'connects/s as share of the signature limit (row 6)', percent(t && t.perSecond / limit.handshakesPerCoreSecond.node),
          percent(m && m.perSecond / limit.handshakesPerCoreSecond.openssl), '');
        bare(percent(bt && bt.perSecond / limit.handshakesPerCoreSecond.node), percent(ba && ba.perSecond / limit.handshakesPerCoreSecond.node), '');
      }
      if ([t, m, bt, ba].some((f) => (f?.failures ?? 0) > 0)) {
        row('', '', 'failed connects', fmt(t?.failures), fmt(m?.failures), '');
        bare(fmt(bt?.failures), fmt(ba?.failures), '');
      }
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
    // bare node:tls forwards nothing: bare aedes is the baseline of a message.
    const a = c.saturated.bareAedes;
    const notForwarding = 'no broker';
    row(2, `${c.label} (${p.throughput.payloadBytes} B, ${writes}): ${p.throughput.seconds} s as fast as it goes, ${fmt(p.throughput.window)} in flight`, 'messages/s',
      fmt(t?.perSecond), fmt(m?.perSecond), times(ratio), '≥ 1.0× Mosquitto', mark(target));
    bare(notForwarding, fmt(a?.perSecond), overBare(t?.perSecond, undefined, a?.perSecond));
    const cpuTarget = keep(atMost(2, `broker CPU per message ÷ bare aedes, ${c.label}`, ratioOf(t?.cpuSecondsPer100k, a?.cpuSecondsPer100k),
      MESSAGE_CPU_OVER_BARE_AEDES, `≤ ${MESSAGE_CPU_OVER_BARE_AEDES}× bare aedes`));
    row('', '', 'broker CPU s per 100k messages', fmt(t?.cpuSecondsPer100k, 2), fmt(m?.cpuSecondsPer100k, 2), times(ratioOf(t?.cpuSecondsPer100k, m?.cpuSecondsPer100k)),
      cpuTarget ? `≤ ${MESSAGE_CPU_OVER_BARE_AEDES}× bare aedes` : '', cpuTarget ? mark(cpuTarget) : '');
    bare(notForwarding, fmt(a?.cpuSecondsPer100k, 2), overBare(t?.cpuSecondsPer100k, undefined, a?.cpuSecondsPer100k));
    row('', '', 'broker CPU busy', percent(t?.brokerCpuShare), percent(m?.brokerCpuShare), '');
    bare('', percent(a?.brokerCpuShare), '');
    const loadPer100k = (f: ThroughputFigures | undefined) => f && f.received > 0 ? f.loadCpuSeconds * 100_000 / f.received : undefined;
    row('', '', 'load generator CPU s per 100k messages', fmt(loadPer100k(t), 2), fmt(loadPer100k(m), 2), '');
    bare('', fmt(loadPer100k(a), 2), '');
    row('', '', 'p99 end-to-end latency at that rate, ms', fmt(t?.p99Ms, 1), fmt(m?.p99Ms, 1), times(ratioOf(t?.p99Ms, m?.p99Ms)));
    bare('', fmt(a?.p99Ms, 1), overBare(t?.p99Ms, undefined, a?.p99Ms));
    const pt = c.paced.trustgate;
    const pm = c.paced.mosquitto;
    const pa = c.paced.bareAedes;
    const latency = (f: ThroughputFigures | undefined) => f ? `${fmt(f.p50Ms, 2)} / ${fmt(f.p99Ms, 2)}` : '—';
    row('', '', `p50 / p99 end-to-end latency at ${fmt(p.throughput.latencyRatePerSecond)} msg/s offered, ms`,
      latency(pt), latency(pm), times(ratioOf(pt?.p99Ms, pm?.p99Ms)));
    bare('', latency(pa), overBare(pt?.p99Ms, undefined, pa?.p99Ms));
    const lost = (f: ThroughputFigures | undefined) => f ? f.sent - f.received : undefined;
    const lostAll = [t, m, pt, pm, a, pa].reduce((sum, f) => sum + (lost(f) ?? 0), 0);
    if (lostAll > 0) {
      row('', '', 'messages sent but not received (rate run / latency run)', `${fmt(lost(t))} / ${fmt(lost(pt))}`, `${fmt(lost(m))} / ${fmt(lost(pm))}`, '');
      bare('', `${fmt(lost(a))} / ${fmt(lost(pa))}`, '');
    }
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
    const memory = results.memory;
    const stages = memory.trustgate?.stages ?? memory.mosquitto?.stages ?? [];
    for (const [i, stage] of stages.entries()) {
      const t = memory.trustgate?.stages[i];
      const m = memory.mosquitto?.stages[i];
      const bt = memory.bareTls?.stages[i];
      const ba = memory.bareAedes?.stages[i];
      const target = keep(atMost(4, `RSS per idle agent at ${stage.agents}`, t?.kiBPerAgent, RSS_TARGET_KIB, `≤ ${RSS_TARGET_KIB} KiB`));
      row(4, `memory: ${fmt(stage.agents)} idle connected agents`, 'RSS per idle agent, KiB', fmt(t?.kiBPerAgent, 1), fmt(m?.kiBPerAgent, 1),
        times(ratioOf(t?.kiBPerAgent, m?.kiBPerAgent)), `≤ ${RSS_TARGET_KIB} KiB`, mark(target));
      bare(fmt(bt?.kiBPerAgent, 1), fmt(ba?.kiBPerAgent, 1), overBare(t?.kiBPerAgent, bt?.kiBPerAgent, ba?.kiBPerAgent));
      if (t && bt) {
        const over = t.kiBPerAgent - bt.kiBPerAgent;
        const overTarget = keep(atMost(4, `RSS per idle agent − bare node:tls at ${stage.agents}, KiB`, over, RSS_OVER_BARE_TLS_KIB, `≤ bare node:tls + ${RSS_OVER_BARE_TLS_KIB} KiB`));
        row('', '', 'RSS per idle agent beyond bare node:tls, KiB', fmt(over, 1), '', '', `≤ ${RSS_OVER_BARE_TLS_KIB} KiB`, mark(overTarget));
        bare('0', ba ? fmt(ba.kiBPerAgent - bt.kiBPerAgent, 1) : '—', '');
      }
      const rss = (key: 'trustgate' | 'mosquitto' | 'bareTls' | 'bareAedes', f: { rssKiB: number } | undefined) =>
        f ? `${fmt(memory[key]!.baselineRssKiB / 1024, 1)} → ${fmt(f.rssKiB / 1024, 1)}` : '—';
      row('', '', 'RSS, MiB (baseline → loaded)', rss('trustgate', t), rss('mosquitto', m), '');
      bare(rss('bareTls', bt), rss('bareAedes', ba), '');
      if ([t, m, bt, ba].some((f) => f && f.open !== f.agents)) {
        row('', '', 'connections open when read', fmt(t?.open), fmt(m?.open), '');
        bare(fmt(bt?.open), fmt(ba?.open), '');
      }
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
  const storm = results.reconnectStorm;
  if (storm) {
    const r = p.reconnectStorm;
    const good = (phase: { groups: Readonly<Record<string, LoopFigures>> }) => phase.groups['well-behaved'];
    const refused = (phase: { groups: Readonly<Record<string, LoopFigures>> }) => phase.groups.refused;
    const latency = (f: LoopFigures | undefined) => f ? `${fmt(f.p50Ms, 1)} / ${fmt(f.p99Ms, 1)}` : '—';
    const target = keep(atMost(9, 'well-behaved agents\' p99 connect latency in the reconnect storm ÷ calm', storm.p99Ratio, 2, '≤ 2× calm'));
    row(9, `reconnect storm (TRUSTGATE_RATE_LIMITS=${storm.rateLimits}): ${fmt(storm.agents)} agents, ${fmt(storm.agents - 1)} well-behaved reconnecting as fast as they can ` +
      `(${p.workers} processes × ${p.connect.concurrencyPerWorker} in flight), 1 with a certificate from an unregistered CA in a loop; calm = the same agents at ${fmt(r.calmRatePerSecond)}/s; ${r.seconds} s per phase`,
    'well-behaved p50 / p99 connect latency, ms: calm → storm', `${latency(good(storm.calm))} → ${latency(good(storm.storm))}`, '—', `${times(storm.p99Ratio)} (storm ÷ calm)`, '≤ 2× calm', mark(target));
    row('', '', 'well-behaved p50 / p99, ms: storm without the refused agent → with it', `${latency(good(storm.stormAlone))} → ${latency(good(storm.storm))}`, '—', times(storm.refusedEffectP99Ratio));
    row('', '', 'well-behaved attempts/s (accepted/s): calm · storm without · with the refused agent',
      [storm.calm, storm.stormAlone, storm.storm].map((phase) => `${fmt(good(phase)?.attemptsPerSecond)} (${fmt(good(phase)?.acceptedPerSecond)})`).join(' · '), '—', '');
    row('', '', 'what the well-behaved agents got in the storm', outcomesText(good(storm.storm)?.outcomes), '—', '');
    row('', '', `what the refused agent got: alone (${fmt(r.refusedAttempts)} attempts) · in the storm`, `${outcomesText(refused(storm.refusedAlone)?.outcomes)} · ${outcomesText(refused(storm.storm)?.outcomes)}`, '—', '');
    row('', '', 'refused agent attempts/s: alone · in the storm', `${fmt(refused(storm.refusedAlone)?.attemptsPerSecond)} · ${fmt(refused(storm.storm)?.attemptsPerSecond)}`, '—', '');
    const perAccepted = (phase: typeof storm.stormAlone) => good(phase)?.accepted ? phase.brokerCpuSeconds * 1000 / good(phase)!.accepted : undefined;
    row('', '', 'broker CPU ms per refused attempt (alone) · per accepted reconnect (storm without it)', `${fmt(storm.refusedCpuMsPerAttempt, 2)} · ${fmt(perAccepted(storm.stormAlone), 2)}`, '—', '');
    row('', '', 'broker CPU s on the refused agent in the storm (its attempts × CPU per attempt), of all', `${fmt(storm.refusedCpuSecondsInStorm, 2)} of ${fmt(storm.storm.brokerCpuSeconds, 2)} (${percent(storm.refusedCpuShareInStorm)})`, '—', '');
    row('', '', 'broker CPU busy: calm · storm without · with the refused agent', [storm.calm, storm.stormAlone, storm.storm].map((phase) => percent(phase.brokerCpuShare)).join(' · '), '—', '');
  }
  const first = results.firstConnectStorm;
  if (first) {
    const rateTarget = keep(atLeast(10, 'first-connect storm rate ÷ reconnect rate of the same agents', first.rateRatio, 1, '≥ 1.0× reconnects'));
    const p99Target = keep(atMost(10, 'other agents\' message p99 in the first-connect storm ÷ calm', first.p99Ratio, 2, '≤ 2× calm'));
    const messages = (run: StormRunFigures) => `${fmt(run.messages.p50Ms, 1)} / ${fmt(run.messages.p99Ms, 1)}`;
    row(10, `first-connect storm: ${fmt(first.newAgents)} new agents connect (each onboarded, durable before its CONNACK; ${p.workers} processes × ${p.connect.concurrencyPerWorker} in flight), ` +
      `then reconnect; meanwhile ${fmt(first.messagingAgents)} connected agents publish QoS 1 at ${fmt(first.messageRatePerSecond)} msg/s in all to the tenant application`,
    'connects/s: first connects (onboarding) · reconnects', `${fmt(first.firstConnects.connects?.perSecond)} · ${fmt(first.reconnects.connects?.perSecond)}`, '—',
    `${times(first.rateRatio)} (first ÷ re)`, '≥ 1.0× reconnects', mark(rateTarget));
    row('', '', 'storm agents\' p50 / p99 CONNACK latency, ms: first connects · reconnects',
      `${fmt(first.firstConnects.connects?.p50Ms, 1)} / ${fmt(first.firstConnects.connects?.p99Ms, 1)} · ${fmt(first.reconnects.connects?.p50Ms, 1)} / ${fmt(first.reconnects.connects?.p99Ms, 1)}`, '—', '');
    row('', '', 'other agents\' messages p50 / p99 end-to-end, ms: calm → first-connect storm → reconnect storm',
      `${messages(first.calm)} → ${messages(first.firstConnects)} → ${messages(first.reconnects)}`, '—', `${times(first.p99Ratio)} (storm ÷ calm)`, '≤ 2× calm', mark(p99Target));
    row('', '', 'broker CPU busy: calm · first connects · reconnects', [first.calm, first.firstConnects, first.reconnects].map((run) => percent(run.brokerCpuShare)).join(' · '), '—', '');
    row('', '', 'broker event loop delay p99 / max, ms: calm · first connects · reconnects',
      [first.calm, first.firstConnects, first.reconnects].map((run) => `${fmt(run.eventLoopDelay.p99Ms, 1)} / ${fmt(run.eventLoopDelay.maxMs, 1)}`).join(' · '), '—', '');
    const lost = [first.calm, first.firstConnects, first.reconnects].map((run) => run.messages.sent - run.messages.received);
    if (lost.some((n) => n > 0)) row('', '', 'messages sent but not received: calm · first connects · reconnects', lost.map((n) => fmt(n)).join(' · '), '—', '');
    const failed = [first.firstConnects, first.reconnects].map((run) => run.connects?.failures ?? 0);
    if (failed.some((n) => n > 0)) row('', '', 'failed connects: first · re', failed.map((n) => fmt(n)).join(' · '), '—', '');
  }
  const writes = results.restWrites;
  if (writes) {
    const w = p.restWrites;
    const target = keep(atMost(11, 'GET /caCertificates p99 during concurrent REST writes ÷ alone', writes.readP99Ratio, 2, '≤ 2× alone'));
    row(11, `REST writes on SQLite: ${fmt(w.concurrency)} concurrent upload + registration code + verify flows (${fmt(writes.writes.flows)}, a new tenant each), ` +
      `${fmt(w.readers)} GET /caCertificates in flight beside them`, 'flows/s; p50 / p99 per flow, ms',
    `${fmt(writes.writes.flowsPerSecond, 1)}; ${fmt(writes.writes.flow.p50Ms, 1)} / ${fmt(writes.writes.flow.p99Ms, 1)}`, '—', '');
    row('', '', 'p50 / p99 per call, ms: upload · registrationCode · verify',
      ['upload', 'registrationCode', 'verify'].map((name) => writes.writes.byCall[name]).map((c) => c ? `${fmt(c.p50Ms, 1)} / ${fmt(c.p99Ms, 1)}` : '—').join(' · '), '—', '');
    row('', '', 'GET /caCertificates p50 / p99, ms (requests/s): alone → during the writes',
      `${fmt(writes.readsCalm.p50Ms, 1)} / ${fmt(writes.readsCalm.p99Ms, 1)} (${fmt(writes.readsCalm.requestsPerSecond)}) → ${fmt(writes.readsDuringWrites.p50Ms, 1)} / ${fmt(writes.readsDuringWrites.p99Ms, 1)} (${fmt(writes.readsDuringWrites.requestsPerSecond)})`,
      '—', `${times(writes.readP99Ratio)} (during ÷ alone)`, '≤ 2× alone', mark(target));
    row('', '', 'server CPU busy · event loop delay p99 / max, ms, during the writes',
      `${percent(writes.serverCpuShare)} · ${fmt(writes.eventLoopDelay.p99Ms, 1)} / ${fmt(writes.eventLoopDelay.maxMs, 1)}`, '—', '');
    if (writes.writes.failures + writes.readsDuringWrites.failures > 0) row('', '', 'failed flows · failed reads', `${fmt(writes.writes.failures)} · ${fmt(writes.readsDuringWrites.failures)}`, '—', '');
  }
  // Rows are built trustgate | Mosquitto | ratio; the baselines' cells go in around them.
  const header = ['#', 'scenario', 'figure', 'bare node:tls', 'bare aedes', 'trustgate', 'Mosquitto', 'ratio (trustgate ÷ Mosquitto)', 'trustgate ÷ bare', 'target', 'mark'];
  const lines = [
    `| ${header.join(' | ')} |`,
    '|---|---|---|---:|---:|---:|---:|---:|---:|---|---|',
    ...rows.map((cells, i) => {
      const [tls, aedes, ratio] = bareCells[i] ?? ['', '', ''];
      const all = [...cells.slice(0, 3), tls, aedes, ...cells.slice(3, 6), ratio, ...cells.slice(6)];
      return `| ${all.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
    }),
  ];
  const cluster = clusterReport(results);
  if (cluster) targets.push(...cluster.targets);
  const tables = [...(rows.length > 0 || !cluster ? [lines.join('\n')] : []), ...(cluster ? [cluster.table] : [])];
  return { table: tables.join('\n\n'), targets };
};

/**
 * Passes during which other programs used a noticeable share of the machine (figures from those
 * passes are not comparable): `other CPU s / (wall s × cores)` above 10 %.
 */
export const disturbedPasses = (results: Results, cores: number): string[] => {
  const passes: [string, { otherCpuSeconds: number; otherCpuTop: readonly string[]; seconds: number } | undefined][] = [];
  const storm = results.connectStorm;
  if (storm) {
    for (const [name, pair] of [['first connects', storm.firstConnects], ['reconnects', storm.reconnects], ['reconnects X25519', storm.reconnectsX25519 ?? {}]] as const) {
      passes.push([`${name} trustgate`, pair.trustgate], [`${name} Mosquitto`, pair.mosquitto], [`${name} bare node:tls`, pair.bareTls], [`${name} bare aedes`, pair.bareAedes]);
    }
  }
  for (const c of results.throughput ?? []) {
    passes.push([`${c.label} trustgate`, c.saturated.trustgate], [`${c.label} Mosquitto`, c.saturated.mosquitto]);
    passes.push([`${c.label} bare aedes`, c.saturated.bareAedes], [`${c.label} at fixed rate, bare aedes`, c.paced.bareAedes]);
    passes.push([`${c.label} at fixed rate, trustgate`, c.paced.trustgate], [`${c.label} at fixed rate, Mosquitto`, c.paced.mosquitto]);
  }
  if (results.rest) passes.push(['REST upload + verify', results.rest.register], ['REST GET /caCertificates', results.rest.list]);
  for (const k of results.cluster?.cases ?? []) {
    for (const [which, name] of [['oneNode', 'one node'], ['twoNodes', 'two nodes']] as const) {
      passes.push([`cluster ${k.traffic} ${k.label}, ${name}`, k[which].saturated], [`cluster ${k.traffic} ${k.label} at fixed rate, ${name}`, k[which].paced]);
    }
  }
  const reconnectStorm = results.reconnectStorm;
  if (reconnectStorm) {
    passes.push(['reconnect storm calm', reconnectStorm.calm], ['reconnect storm without the refused agent', reconnectStorm.stormAlone],
      ['reconnect storm refused agent alone', reconnectStorm.refusedAlone], ['reconnect storm', reconnectStorm.storm]);
  }
  const first = results.firstConnectStorm;
  if (first) passes.push(['first-connect storm calm', first.calm], ['first-connect storm', first.firstConnects], ['first-connect storm reconnects', first.reconnects]);
  if (results.restWrites) {
    const calm = results.restWrites.readsCalm;
    if (calm.otherCpuSeconds !== undefined) passes.push(['REST readers alone', { otherCpuSeconds: calm.otherCpuSeconds, otherCpuTop: calm.otherCpuTop ?? [], seconds: calm.seconds }]);
    passes.push(['concurrent REST writes', results.restWrites]);
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
