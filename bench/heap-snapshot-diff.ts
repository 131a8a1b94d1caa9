// Profiling only: `node bench/heap-snapshot-diff.ts <before.heapsnapshot> <after.heapsnapshot> <agents> [rows]`
// prints, per idle agent, the self size and count of what the second snapshot holds more than the
// first, grouped by node type and constructor (strings together): which objects an idle agent costs.
// Sizes are V8's self sizes; "native" rows are the sizes Node reports for its C++ objects.
import { readFileSync } from 'node:fs';

interface Snapshot { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] }

const tally = (file: string): Map<string, [number, number]> => {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const [type, name, size] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const groups = new Map<string, [number, number]>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const kind = types[s.nodes[i + type]!]!;
    const label = kind.endsWith('string') ? '(string)' : kind === 'code' ? '(code)' : s.strings[s.nodes[i + name]!]!.slice(0, 60);
    const key = `${kind}: ${label}`;
    const group = groups.get(key) ?? [0, 0];
    group[0] += s.nodes[i + size]!;
    group[1] += 1;
    groups.set(key, group);
  }
  return groups;
};

const [beforeFile, afterFile, agentsText, rowsText] = process.argv.slice(2);
if (!beforeFile || !afterFile || !agentsText) {
  process.stderr.write('usage: heap-snapshot-diff.ts <before.heapsnapshot> <after.heapsnapshot> <agents> [rows]\n');
  process.exit(64);
}
const agents = Number(agentsText);
const before = tally(beforeFile);
const rows = [...tally(afterFile)].map(([key, [bytes, count]]) => {
  const [b, c] = before.get(key) ?? [0, 0];
  return { key, bytes: (bytes - b) / agents, count: (count - c) / agents };
}).sort((x, y) => y.bytes - x.bytes);
process.stdout.write(`bytes per agent in all: ${rows.reduce((sum, row) => sum + row.bytes, 0).toFixed(0)}\n`);
for (const row of rows.slice(0, Number(rowsText ?? 40))) process.stdout.write(`${row.bytes.toFixed(0).padStart(6)} ${row.count.toFixed(2).padStart(6)}  ${row.key}\n`);
