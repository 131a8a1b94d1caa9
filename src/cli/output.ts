// Human output by default, one JSON document with --json. Results go to stdout; notes about
// progress go to stderr and only for people, so `--json | jq` and `> file` stay clean.

export type Cell = string | number | boolean | null | undefined;

/** Columns padded to their widest cell; the last column is not padded. */
export const formatTable = (headers: readonly string[], rows: readonly (readonly Cell[])[]): string[] => {
  const text = [headers, ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell))))];
  const widths = headers.map((_, column) => Math.max(...text.map((row) => (row[column] ?? '').length)));
  return text.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd());
};

/** "key  value" lines with the keys aligned. */
export const formatFields = (fields: readonly (readonly [string, Cell])[]): string[] => {
  const width = Math.max(...fields.map(([key]) => key.length));
  return fields.map(([key, value]) => `${key.padEnd(width)}  ${value === null || value === undefined ? '-' : String(value)}`);
};

/** An ISO timestamp as "2031-05-30 09:22 UTC". */
export const shortTime = (iso: string | null | undefined): string =>
  iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '-';

export class Output {
  readonly isJson: boolean;

  constructor(isJson: boolean) {
    this.isJson = isJson;
  }

  /** The command's result: `json` with --json, else the human lines. */
  result(json: unknown, human: () => string | readonly string[]): void {
    if (this.isJson) {
      process.stdout.write(`${JSON.stringify(json)}\n`);
      return;
    }
    const lines = human();
    const text = typeof lines === 'string' ? lines : lines.join('\n');
    if (text !== '') process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** A line for a person watching (what is happening, what to do next); never in --json mode. */
  note(line: string): void {
    if (!this.isJson) process.stderr.write(`${line}\n`);
  }
}
