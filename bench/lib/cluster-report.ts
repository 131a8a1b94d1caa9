import type { ClusterCase } from '../scenarios/cluster.ts';
import type { ThroughputFigures } from '../scenarios/throughput.ts';
import type { Results } from './report.ts';
import { atLeast, atMost, fmt, markdownTable, mark, percent, ratioOf, times, type Target } from './report-format.ts';

// Scenario 7's table: its columns are one node and two nodes (no Mosquitto), with scenario 2's
// trustgate on its embedded SQLite default beside them when it ran in the same sitting. Issue 18
// part 2's targets: two nodes ≥ 1.9× one node (local traffic: what a cluster scales out with),
// two nodes > one embedded node, one clustered node's CPU per message ≤ 1.3× the embedded node's.

const TWO_OVER_ONE = 1.9;
const CLUSTERED_CPU_OVER_EMBEDDED = 1.3;
const WATCHED = ['node 1', 'node 2', 'redis-server'] as const;

const watched = (f: ThroughputFigures | undefined, label: string) => f?.watched?.find((w) => w.label === label);
const cpuSum = (f: ThroughputFigures | undefined) => f?.watched?.reduce((sum, w) => sum + w.cpuSecondsPer100k, 0);
const cpuParts = (f: ThroughputFigures | undefined) => f?.watched
  ? `${WATCHED.map((label) => fmt(watched(f, label)?.cpuSecondsPer100k, 2)).join(' + ')} = ${fmt(cpuSum(f), 2)}` : '—';
const busy = (f: ThroughputFigures | undefined) => f?.watched ? `${WATCHED.map((label) => percent(watched(f, label)?.cpuShare)).join(' · ')} · ${percent(f.loadCpuShare)}` : '—';
const latency = (f: ThroughputFigures | undefined) => f ? `${fmt(f.p50Ms, 2)} / ${fmt(f.p99Ms, 2)}` : '—';
const loadPer100k = (f: ThroughputFigures | undefined) => f && f.received > 0 ? f.loadCpuSeconds * 100_000 / f.received : undefined;
/** CPU s per 100k of the messages a node's own application received: node i serves group i (two nodes), node 1 serves all (one node). */
const ownCpuPer100k = (f: ThroughputFigures | undefined, node: 1 | 2): number | undefined => {
  const cpu = watched(f, `node ${node}`)?.cpuSeconds;
  if (cpu === undefined || !f) return undefined;
  const own = f.groups && watched(f, 'node 2') ? f.groups[node - 1]?.received : f.received;
  return own ? cpu * 100_000 / own : undefined;
};
const clusteredPerNode = (f: ThroughputFigures | undefined): number | undefined => {
  const parts = [ownCpuPer100k(f, 1), ownCpuPer100k(f, 2)];
  return parts.every((x) => x !== undefined) ? (parts[0]! + parts[1]!) / 2 : undefined;
};
/** Local traffic: the runs at the same offered load per node when there are both, else the saturated ones. */
const equalLoad = (k: ClusterCase) => k.oneNode.paced && k.twoNodes.paced ? { one: k.oneNode.paced, two: k.twoNodes.paced } : { one: k.oneNode.saturated, two: k.twoNodes.saturated };
/** N nodes on N cores (load generator elsewhere, Redis carrying nothing) ÷ one node on one core, from CPU per message at equal load. */
const predictedScaleOut = (k: ClusterCase, nodes: number) => ratioOf(nodes * (ownCpuPer100k(equalLoad(k).one, 1) ?? Number.NaN), clusteredPerNode(equalLoad(k).two));

/** Scenario 2's trustgate (SQLite, no Redis) in the case with the same agents and QoS, if it ran. */
const embeddedOf = (results: Results, k: ClusterCase) => {
  const agents = k.traffic === 'local' && k.batchMessages > 1 ? 1 : k.agents;
  return results.throughput?.find((c) => c.qos === k.qos && c.agents === agents && c.batchMessages === k.batchMessages)?.saturated.trustgate;
};

export const clusterReport = (results: Results): { table: string; targets: Target[] } | undefined => {
  const cluster = results.cluster;
  if (!cluster) return undefined;
  const p = results.parameters;
  const rows: string[][] = [];
  const targets: Target[] = [];
  const row = (id: number | '', scenario: string, figure: string, one: string, two: string, ratio: string, sqlite = '', target?: Target, targetText = '') => {
    if (target) targets.push(target);
    rows.push([String(id), scenario, figure, one, two, ratio, sqlite, target ? targetText : '', target ? mark(target) : '']);
  };
  for (const k of cluster.cases) {
    const one = k.oneNode.saturated;
    const two = k.twoNodes.saturated;
    const sqlite = embeddedOf(results, k);
    const writes = k.batchMessages === 1 ? 'one message per write' : `${k.batchMessages} messages per write`;
    const half = `${fmt(Math.ceil(k.agents / 2))} + ${fmt(Math.floor(k.agents / 2))} agents`;
    const where = k.traffic === 'local'
      ? `**local traffic** (scale-out): one node: both applications and all agents on node 1; two nodes: an application and ${k.agents === 2 ? 'its agent' : 'half the agents'} on each node, each application subscribed to its own agents' topics only`
      : k.agents === 1 ? '**across nodes**: one node: all on node 1; two nodes: agent on node 1, application on node 2 (every message crosses Redis)'
        : `**across nodes**: one node: all on node 1; two nodes: ${half} on nodes 1 + 2, application on node 2 (half the messages cross Redis)`;
    const rateRatio = ratioOf(two?.perSecond, one?.perSecond);
    const sqliteRate = sqlite ? `${fmt(sqlite.perSecond)}${k.traffic === 'local' ? ` (${k.agents === 2 ? '1 agent' : `${fmt(k.agents)} agents`} → 1 application)` : ''}` : '—';
    row(7, `cluster, ${k.label} (${p.throughput.payloadBytes} B, ${writes}), ${p.cluster.seconds} s as fast as it goes; ${where}`, 'messages/s',
      fmt(one?.perSecond), fmt(two?.perSecond), times(rateRatio), sqliteRate,
      k.traffic === 'local' ? atLeast(7, `cluster, local traffic, two nodes ÷ one node, ${k.label}`, rateRatio, TWO_OVER_ONE, `≥ ${TWO_OVER_ONE}× one node`) : undefined,
      `≥ ${TWO_OVER_ONE}× one node`);
    if (k.traffic === 'local') {
      const perApplication = (f: ThroughputFigures | undefined) => f?.groups ? f.groups.map((g) => fmt(g.received / f.seconds)).join(' + ') : '—';
      row('', '', 'messages/s per application: first + second', perApplication(one), perApplication(two), '');
    }
    row('', '', 'p99 end-to-end latency at that rate, ms', fmt(one?.p99Ms, 1), fmt(two?.p99Ms, 1), times(ratioOf(two?.p99Ms, one?.p99Ms)), fmt(sqlite?.p99Ms, 1));
    row('', '', 'CPU s per 100k messages: node 1 + node 2 + redis-server = all', cpuParts(one), cpuParts(two), times(ratioOf(cpuSum(two), cpuSum(one))),
      sqlite ? `${fmt(sqlite.cpuSecondsPer100k, 2)} (node)` : '');
    if (k.traffic === 'local') {
      row('', '', 'CPU s per 100k of the node\'s own messages (node 1 · node 2; two nodes ÷ one: their mean)', fmt(ownCpuPer100k(one, 1), 2),
        `${fmt(ownCpuPer100k(two, 1), 2)} · ${fmt(ownCpuPer100k(two, 2), 2)}`, times(ratioOf(clusteredPerNode(two), ownCpuPer100k(one, 1))));
    } else if (sqlite) {
      row('', '', 'one clustered node\'s CPU per message ÷ the embedded node\'s (scenario 2)', fmt(watched(one, 'node 1')?.cpuSecondsPer100k, 2), '',
        times(ratioOf(watched(one, 'node 1')?.cpuSecondsPer100k, sqlite.cpuSecondsPer100k)), fmt(sqlite.cpuSecondsPer100k, 2),
        atMost(7, `one clustered node's CPU per message ÷ embedded, ${k.label}`, ratioOf(watched(one, 'node 1')?.cpuSecondsPer100k, sqlite.cpuSecondsPer100k),
          CLUSTERED_CPU_OVER_EMBEDDED, `≤ ${CLUSTERED_CPU_OVER_EMBEDDED}× embedded`), `≤ ${CLUSTERED_CPU_OVER_EMBEDDED}× embedded`);
    }
    row('', '', 'CPU busy: node 1 · node 2 · redis-server · load generator (1 core = 100 %)', busy(one), busy(two), '', sqlite ? percent(sqlite.brokerCpuShare) : '');
    row('', '', 'load generator CPU s per 100k messages', fmt(loadPer100k(one), 2), fmt(loadPer100k(two), 2), '', fmt(loadPer100k(sqlite), 2));
    const perReceived = (through: number | undefined, f: ThroughputFigures | undefined) => through === undefined || !f ? '—'
      : `${fmt(through)} (${fmt(f.received > 0 ? through / f.received : undefined, 2)} per message)${k.traffic === 'local' && through > 0 ? ' **FLAG: local traffic crossed Redis**' : ''}`;
    row('', '', `client messages through Redis in the rate run${k.traffic === 'local' ? ' (local traffic: should be 0)' : ''}`,
      perReceived(k.throughRedis?.oneNode, one), perReceived(k.throughRedis?.twoNodes, two), '');
    if (k.traffic === 'local') {
      const rate = p.cluster.localRatePerNode;
      const { one: p1, two: p2 } = { one: k.oneNode.paced, two: k.twoNodes.paced };
      const received = (f: ThroughputFigures | undefined) => f ? `${fmt(f.perSecond)} msg/s; ${fmt(f.p50Ms, 2)} / ${fmt(f.p99Ms, 2)} ms` : '—';
      row('', '', `at ${fmt(rate)} msg/s per node offered (one node: one application and its agents, ${fmt(rate)}; two nodes: both, ${fmt(2 * rate)}): received; p50 / p99`, received(p1), received(p2), '');
      row('', '', `CPU s per 100k of the node's own messages at ${fmt(rate)} msg/s per node (same load, same clients per node)`, fmt(ownCpuPer100k(p1, 1), 2),
        `${fmt(ownCpuPer100k(p2, 1), 2)} · ${fmt(ownCpuPer100k(p2, 2), 2)}`, times(ratioOf(clusteredPerNode(p2), ownCpuPer100k(p1, 1))));
      row('', '', 'busy at that load: node 1 · node 2 · redis-server · load generator', busy(p1), busy(p2), '');
      row('', '', 'two nodes ÷ one node if each node had a core (2 × one node\'s CPU per message ÷ a clustered node\'s per own message, at equal load)', '', '', times(predictedScaleOut(k, 2)));
      if (sqlite && k.agents > 2) {
        const overEmbedded = ratioOf(two?.perSecond, sqlite.perSecond);
        row('', '', 'two nodes ÷ one embedded node (scenario 2), messages/s', '', fmt(two?.perSecond), times(overEmbedded), fmt(sqlite.perSecond),
          atLeast(7, `cluster, local traffic, two nodes ÷ one embedded node, ${k.label}`, overEmbedded, 1, '> 1.0× embedded'), '> 1.0× embedded');
      }
    }
    if (k.traffic === 'across' && (k.oneNode.paced || k.twoNodes.paced)) {
      row('', '', `p50 / p99 end-to-end latency at ${fmt(p.cluster.latencyRatePerSecond)} msg/s offered, ms`, latency(k.oneNode.paced), latency(k.twoNodes.paced),
        times(ratioOf(k.twoNodes.paced?.p99Ms, k.oneNode.paced?.p99Ms)));
    }
    const lost = (f: ThroughputFigures | undefined) => f ? f.sent - f.received : undefined;
    if ([one, k.oneNode.paced, two, k.twoNodes.paced].some((f) => (lost(f) ?? 0) > 0)) {
      row('', '', 'messages sent but not received (rate run / latency run)', `${fmt(lost(one))} / ${fmt(lost(k.oneNode.paced))}`, `${fmt(lost(two))} / ${fmt(lost(k.twoNodes.paced))}`, '');
    }
  }
  const header = ['#', 'scenario', 'figure', 'one node (PostgreSQL + Redis)', 'two nodes', 'ratio (two ÷ one)', 'one node, SQLite (scenario 2)', 'target', 'mark'];
  return { table: markdownTable(header, '|---|---|---|---:|---:|---:|---:|---|---|', rows), targets };
};

/** What decides each local-traffic ratio on this machine, and what the CPU per message predicts for more cores. */
export const clusterNotes = (results: Results, cores: number): string[] => (results.cluster?.cases ?? []).flatMap((k) => {
  const one = k.oneNode.saturated;
  const two = k.twoNodes.saturated;
  if (k.traffic !== 'local' || !one || !two) return [];
  const share = (f: ThroughputFigures, label: string) => watched(f, label)?.cpuShare ?? 0;
  const others = two.seconds > 0 ? two.otherCpuSeconds / two.seconds : 0;
  const ours = share(two, 'node 1') + share(two, 'node 2') + share(two, 'redis-server') + two.loadCpuShare;
  const busiestNode = Math.max(share(two, 'node 1'), share(two, 'node 2'));
  const decides = ours + others >= 0.8 * cores
    ? `the machine's ${cores} cores are all busy (${percent(ours + others)} of ${cores * 100} %, other programs ${percent(others)} of it), so the rate cannot double here` +
      (others > two.loadCpuShare && others > 0.1 * cores ? '; other programs took a large share: the run is disturbed'
        : two.loadCpuShare > busiestNode ? '; the load generator is the largest consumer (it, not the nodes, takes most of the cores)' : '')
    : two.applicationCpuShare >= 0.9 ? `an application process of the load generator is saturated (${percent(two.applicationCpuShare)}): the load generator is the bottleneck`
      : busiestNode >= 0.9 ? 'a node saturates its core'
        : `neither the machine (${percent(ours + others)} of ${cores * 100} %, other programs ${percent(others)}) nor a process is saturated: the closed loop's window sets the pace`;
  const c1 = ownCpuPer100k(equalLoad(k).one, 1);
  const c2 = clusteredPerNode(equalLoad(k).two);
  const atEqualLoad = k.oneNode.paced && k.twoNodes.paced ? ` at ${fmt(results.parameters.cluster.localRatePerNode)} msg/s per node` : ' (saturated runs)';
  // What this machine allows at best: its cores spent on nodes, load generator and Redis at one node's CPU per message.
  const perMessage = (ownCpuPer100k(one, 1) ?? Number.NaN) + (loadPer100k(one) ?? 0) + (watched(one, 'redis-server')?.cpuSecondsPer100k ?? 0);
  const ceiling = cores * 100_000 / perMessage;
  const bound = `On ${cores} cores, undisturbed, two nodes can reach at most ${cores} cores ÷ (node ${fmt(ownCpuPer100k(one, 1), 2)} + load generator ${fmt(loadPer100k(one), 2)} + Redis ` +
    `${fmt(watched(one, 'redis-server')?.cpuSecondsPer100k, 2)} CPU s per 100k, one node's saturated run) ≈ ${fmt(ceiling)} msg/s = ${times(ratioOf(ceiling, one.perSecond))} one node's measured rate ` +
    `(a bound on two nodes ÷ one node when one node fills its core; node 1 was ${percent(share(one, 'node 1'))} busy). `;
  return [`Scenario 7, local traffic, ${k.label}: two nodes ${fmt(two.perSecond)} msg/s = ${times(ratioOf(two.perSecond, one.perSecond))} one node (${fmt(one.perSecond)}). ` +
    `Two nodes busy: node 1 ${percent(share(two, 'node 1'))}, node 2 ${percent(share(two, 'node 2'))}, redis-server ${percent(share(two, 'redis-server'))}, ` +
    `load generator ${percent(two.loadCpuShare)} (one node: node 1 ${percent(share(one, 'node 1'))}, load generator ${percent(one.loadCpuShare)}): ${decides}. ` +
    bound +
    `A clustered node spends ${fmt(c2, 2)} CPU s per 100k of its own messages against ${fmt(c1, 2)} for one node alone${atEqualLoad} (${times(ratioOf(c2, c1))}; saturated runs: ${fmt(clusteredPerNode(two), 2)} against ${fmt(ownCpuPer100k(one, 1), 2)}), ` +
    `redis-server ${fmt(watched(two, 'redis-server')?.cpuSecondsPer100k, 2)}, ${fmt(k.throughRedis.twoNodes)} client messages through Redis: ` +
    `with a core per node and the load generator elsewhere, 2 nodes ≈ ${times(predictedScaleOut(k, 2))} one node and 16 nodes on 16 cores ≈ ${times(predictedScaleOut(k, 16))} ` +
    `(one node's core takes ≈ ${fmt(c1 ? 100_000 / c1 : undefined)} msg/s at that CPU per message; a prediction from CPU per message, not a measurement of 16 cores` +
    (c1 !== undefined && c2 !== undefined && c2 < c1 ? `; a clustered node doing the same work cannot cost less than a lone one, so ${times(ratioOf(c2, c1))} below 1 is run-to-run noise (other programs took ${percent(others)} of the machine during the two-node run) and reads as linear, N nodes ≈ N×` : '') + '; ' +
    'a node\'s CPU per message also falls as its load rises, larger reads and writes, so a saturated node does somewhat better than this figure).'];
});
