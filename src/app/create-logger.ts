import pino, { type Logger } from 'pino';
import type { LogFormat } from '../config/index.ts';
import { prettyLogLine } from './pretty-log-line.ts';

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
  return destination ? pino(options, { write: (line: string) => { destination.write(line); } }) : pino(options);
};
