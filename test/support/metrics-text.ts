// Reading Prometheus' text exposition format in tests: samples by name and labels, and the names
// a scrape exposes (families from # TYPE lines, with a histogram's _bucket/_sum/_count series).

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export const parseSamples = (text: string): Sample[] => text.split('\n').flatMap((line) => {
  if (line.startsWith('#')) return [];
  const match = SAMPLE.exec(line);
  if (!match) return [];
  const labels: Record<string, string> = {};
  for (const [, name, value] of (match[2] ?? '').matchAll(LABEL)) labels[name!] = value!;
  return [{ name: match[1]!, labels, value: Number(match[3]) }];
});

/** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
export const sampleValue = (text: string, name: string, labels: Readonly<Record<string, string>> = {}): number =>
  parseSamples(text)
    .filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);

/** Whether any sample named `name` with these labels is present. */
export const hasSample = (text: string, name: string, labels: Readonly<Record<string, string>> = {}): boolean =>
  parseSamples(text).some((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));

/** Every series name the scrape declares: each family, and for histograms and summaries their series. */
export const exposedNames = (text: string): Set<string> => {
  const names = new Set(parseSamples(text).map((sample) => sample.name));
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
};
