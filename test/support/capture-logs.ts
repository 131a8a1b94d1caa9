import { pino, type Logger } from 'pino';
import { withTimeout } from './with-timeout.ts';

// A pino logger whose JSON lines the test reads back: to assert what an incident would show in
// the logs (message, fields, level), and to wait for a line as an event.

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly time: number;
  readonly [field: string]: unknown;
}

export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

export interface CapturedLogs {
  readonly logger: Logger;
  readonly lines: readonly LogLine[];
  /** The lines with this message (and these fields, compared with ===). */
  find(msg: string, fields?: Readonly<Record<string, unknown>>): LogLine[];
  /** The first line, already written or to come, with this message (and fields), bounded. */
  next(msg: string, fields?: Readonly<Record<string, unknown>>, ms?: number): Promise<LogLine>;
}

const matches = (line: LogLine, msg: string, fields: Readonly<Record<string, unknown>>): boolean =>
  line.msg === msg && Object.entries(fields).every(([key, value]) => line[key] === value);

export const captureLogs = (level: keyof typeof LEVELS = 'debug'): CapturedLogs => {
  const lines: LogLine[] = [];
  const waiters = new Set<(line: LogLine) => void>();
  const logger = pino({ level }, {
    write: (text: string) => {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      for (const waiter of [...waiters]) waiter(line);
    },
  });
  const find = (msg: string, fields: Readonly<Record<string, unknown>> = {}) => lines.filter((line) => matches(line, msg, fields));
  return {
    logger,
    lines,
    find,
    next(msg, fields = {}, ms = 5_000) {
      const already = find(msg, fields)[0];
      if (already) return Promise.resolve(already);
      let waiter: ((line: LogLine) => void) | undefined;
      const arrived = new Promise<LogLine>((resolve) => {
        waiter = (line) => {
          if (!matches(line, msg, fields)) return;
          waiters.delete(waiter!);
          resolve(line);
        };
        waiters.add(waiter);
      });
      return withTimeout(arrived, ms, `log line "${msg}" ${JSON.stringify(fields)}`).finally(() => waiters.delete(waiter!));
    },
  };
};
