import { CliError, EXIT } from './cli-error.ts';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

// "3600", "90s", "15m", "1h", "7d" → seconds.
export const parseDurationSeconds = (text: string, option = '--ttl'): number => {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] || 's'] ?? 1) : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 366 * 86_400) {
    throw new CliError(`${option} "${text}" is not a duration like 3600, 90m, 1h or 7d (at most 366d)`, EXIT.usage);
  }
  return seconds;
};
