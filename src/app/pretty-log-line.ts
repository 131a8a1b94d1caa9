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

const shown = (value: unknown): string => {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
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
    typeof msg === 'string' ? msg : '',
    ...Object.entries(fields).map(([key, value]) => paint(`${key}=${shown(value)}`, DIM)),
  ].filter((part) => part !== '');
  let text = parts.join(' ');
  if (err && typeof err === 'object') {
    const { message, stack } = err as { message?: unknown; stack?: unknown };
    const detail = typeof stack === 'string' ? stack : typeof message === 'string' ? message : JSON.stringify(err);
    text += `\n${detail.split('\n').map((each) => `    ${each}`).join('\n')}`;
  }
  return `${text}\n`;
};
