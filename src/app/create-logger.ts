import pino, { type Logger } from 'pino';
import type { LogFormat } from '../config/index.ts';
import { prettyLogLine } from './pretty-log-line.ts';

/** Lines written to stdout together once this many bytes are gathered… */
export const STDOUT_BUFFER_BYTES = 4096;
/** …or this long after the first of them. */
export const STDOUT_FLUSH_MS = 100;

/** Where log lines go: process.stdout unless a test gives its own. */
export interface LogDestination {
  write(line: string): unknown;
  readonly isTTY?: boolean;
}

// Structured JSON logs on stdout, or human-readable lines (TRUSTGATE_LOG_FORMAT: `auto` = pretty
// when stdout is a terminal). Authorization headers and request bodies are never logged (Fastify's
// default request serializer leaves them out; the redaction is a second lock).
export const createLogger = (level: string, format: LogFormat = 'json', destination?: LogDestination): Logger => {
  const options = {
    level,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'body', 'req.body'], censor: '[redacted]' },
  };
  const target = destination ?? process.stdout;
  const pretty = format === 'pretty' || (format === 'auto' && target.isTTY === true);
  if (pretty) {
    const colors = target.isTTY === true && !process.env.NO_COLOR;
    return pino(options, { write: (line: string) => { target.write(prettyLogLine(line, colors)); } });
  }
  if (destination) return pino(options, { write: (line: string) => { destination.write(line); } });
  // stdout: pino's default destination writes each line with its own asynchronous write(2), and
  // at a connect rate where lines do not coalesce, the thread-pool round trip cost ~80 µs of CPU a
  // line against ~30 µs buffered (two lines per connection; decision 0032). So lines are gathered
  // up to STDOUT_BUFFER_BYTES and written together, and whatever is gathered goes out at most
  // STDOUT_FLUSH_MS later. pino flushes synchronously on process exit (process.exit, an uncaught
  // exception, the event loop running dry), so "shutdown complete" and a fatal start error still
  // reach the output; only a SIGKILL can lose the last lines.
  const stdout = pino.destination({ dest: 1, sync: false, minLength: STDOUT_BUFFER_BYTES });
  let isGathering = false;
  setInterval(() => {
    if (!isGathering) return;
    isGathering = false;
    stdout.flush();
  }, STDOUT_FLUSH_MS).unref();
  return pino(options, {
    write: (line: string) => {
      isGathering = true;
      stdout.write(line);
    },
  });
};
