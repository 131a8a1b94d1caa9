// One pino JSON line as one human-readable line, for a person at a terminal
// (TRUSTGATE_LOG_FORMAT=pretty, or auto with stdout a TTY): local time, level, message, then the
// other fields as key=value; an error's stack follows on indented lines. Dependency-free, so it
// runs in the process that logs, synchronously (no transport worker).

const LEVELS: Readonly<Record<number, readonly [name: string, color: string]>> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[90m'],
  30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[35m'],
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

const two = (n: number): string => String(n).padStart(2, '0');
const clockTime = (epochMs: number): string => {
  const at = new Date(epochMs);
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, '0')}`;
};

// Log fields hold what clients chose (an MQTT client id before any credential check, a topic): a
// terminal must get none of their control characters (ESC, C1 such as CSI, DEL, CR) nor bidi
// overrides. Bare only when printable ASCII; JSON-escaped otherwise, and what JSON leaves escaped too.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
const escapeUnsafe = (text: string): string => text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const BARE = /^[\x21\x23-\x3c\x3e-\x7e]+$/;

const shown = (value: unknown): string => {
  if (typeof value === 'string') return BARE.test(value) ? value : escapeUnsafe(JSON.stringify(value));
  return escapeUnsafe(JSON.stringify(value) ?? String(value));
};

/** `line` is one JSON log line (pino's output); anything that is not JSON passes through unchanged. */
export const prettyLogLine = (line: string, colors: boolean): string => {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { level, time, msg, pid: _pid, hostname: _hostname, err, ...fields } = record;
  const [name, color] = LEVELS[level as number] ?? [String(level).padEnd(5), ''];
  const paint = (text: string, code: string): string => (colors && code ? `${code}${text}${RESET}` : text);
  const parts = [
    paint(typeof time === 'number' ? clockTime(time) : '', DIM),
    paint(name, color),
    typeof msg === 'string' ? escapeUnsafe(msg) : '',
    ...Object.entries(fields).map(([key, value]) => paint(`${key}=${shown(value)}`, DIM)),
  ].filter((part) => part !== '');
  let text = parts.join(' ');
  if (err && typeof err === 'object') {
    const { message, stack } = err as { message?: unknown; stack?: unknown };
    const detail = typeof stack === 'string' ? stack : typeof message === 'string' ? message : JSON.stringify(err);
    text += `\n${detail.split('\n').map((each) => `    ${escapeUnsafe(each)}`).join('\n')}`;
  }
  return `${text}\n`;
};
