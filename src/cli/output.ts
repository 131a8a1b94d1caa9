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

const DAY_MS = 86_400_000;
/** How far ahead `ca list`, `agent list` and `ca show` mark an expiry. */
export const EXPIRY_MARK_DAYS = 30;

/** "expired", "expires in 12 days" (within 30 days), or '' (later, or unknown). */
export const expiryMarker = (iso: string | null | undefined, now: Date = new Date()): string => {
  if (!iso) return '';
  const leftMs = new Date(iso).getTime() - now.getTime();
  if (leftMs <= 0) return 'expired';
  if (leftMs >= EXPIRY_MARK_DAYS * DAY_MS) return '';
  const days = Math.floor(leftMs / DAY_MS);
  return days === 0 ? 'expires within a day' : `expires in ${days} day${days === 1 ? '' : 's'}`;
};

/** shortTime with the expiry marker appended when there is one: "2027-01-13 00:00 UTC (expires in 12 days)". */
export const expiryTime = (iso: string | null | undefined, now: Date = new Date()): string => {
  const marker = expiryMarker(iso, now);
  return marker ? `${shortTime(iso)} (${marker})` : shortTime(iso);
};

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
