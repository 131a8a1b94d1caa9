import { round } from './stats.ts';

// How the results tables write figures, ratios and targets (report.ts, cluster-report.ts).

export interface Target {
  readonly scenario: number;
  readonly what: string;
  readonly value: number;
  readonly target: string;
  readonly isMet: boolean;
  /** How far from the target, in percent of the target (0 when met). */
  readonly shortByPercent: number;
}

export const fmt = (value: number | undefined, digits = 0): string =>
  value === undefined || !Number.isFinite(value) ? '—' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const ratioOf = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;
export const times = (ratio: number | undefined): string => ratio === undefined ? '—' : `${ratio.toFixed(2)}×`;
export const percent = (share: number | undefined): string => share === undefined ? '—' : `${Math.round(share * 100)} %`;

export const atLeast = (scenario: number, what: string, value: number | undefined, minimum: number, target: string): Target | undefined =>
  value === undefined ? undefined : { scenario, what, value: round(value, 3), target, isMet: value >= minimum, shortByPercent: value >= minimum ? 0 : round((1 - value / minimum) * 100, 1) };
export const atMost = (scenario: number, what: string, value: number | undefined, maximum: number, target: string): Target | undefined =>
  value === undefined ? undefined : { scenario, what, value: round(value, 3), target, isMet: value <= maximum, shortByPercent: value <= maximum ? 0 : round((value / maximum - 1) * 100, 1) };

export const mark = (target: Target | undefined): string =>
  target === undefined ? '—' : target.isMet ? 'pass' : `**short** by ${target.shortByPercent} %`;

/** A markdown table; `|` inside a cell is escaped. */
export const markdownTable = (header: readonly string[], align: string, rows: readonly (readonly string[])[]): string => [
  `| ${header.join(' | ')} |`,
  align,
  ...rows.map((cells) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`),
].join('\n');
