import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { createLogger, type LogDestination } from './create-logger.ts';

const capture = (isTTY: boolean): LogDestination & { readonly lines: string[] } => {
  const lines: string[] = [];
  return { isTTY, lines, write: (line: string) => { lines.push(line); } };
};

describe('createLogger: JSON by default, human-readable lines on a terminal (TRUSTGATE_LOG_FORMAT)', () => {
  test('auto: JSON lines when stdout is not a terminal', () => {
    const out = capture(false);
    createLogger('info', 'auto', out).info({ url: 'http://localhost:8080' }, 'trustgate HTTP API listening');
    assert.equal(out.lines.length, 1);
    const record = JSON.parse(out.lines[0]!);
    assert.equal(record.msg, 'trustgate HTTP API listening');
    assert.equal(record.url, 'http://localhost:8080');
  });

  test('auto: one readable line (time, level, message, key=value) when stdout is a terminal', () => {
    const out = capture(true);
    createLogger('info', 'auto', out).warn({ url: 'http://localhost:8080', port: 8080, note: 'two words' }, 'trustgate HTTP API listening');
    assert.equal(out.lines.length, 1);
    const plain = out.lines[0]!.replace(/\x1b\[\d+m/g, '');
    assert.match(plain, /^\d\d:\d\d:\d\d\.\d{3} WARN  trustgate HTTP API listening url=http:\/\/localhost:8080 port=8080 note="two words"\n$/);
    assert.throws(() => JSON.parse(out.lines[0]!));
  });

  test('json and pretty force either, whatever stdout is', () => {
    const json = capture(true);
    createLogger('info', 'json', json).info('hello');
    assert.equal(JSON.parse(json.lines[0]!).msg, 'hello');
    const pretty = capture(false);
    createLogger('info', 'pretty', pretty).error({ err: new Error('boom') }, 'failed');
    assert.match(pretty.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} ERROR failed\n {4}Error: boom\n {8}at /, 'no colours off a terminal; the stack on indented lines');
  });

  test('the level still filters, and the redaction still applies in pretty lines', () => {
    const out = capture(false);
    const logger = createLogger('warn', 'pretty', out);
    logger.info('not shown');
    logger.warn({ req: { headers: { authorization: 'Bearer secret' } } }, 'shown');
    assert.equal(out.lines.length, 1);
    assert.doesNotMatch(out.lines[0]!, /secret/);
    assert.match(out.lines[0]!, /\[redacted\]/);
  });

  test('pretty lines never pass a control character through: a client id or topic an unauthenticated client chose cannot drive the terminal', () => {
    const out = capture(false);
    const logger = createLogger('info', 'pretty', out);
    // ESC (no white space, so it would have been shown bare), a C1 CSI, DEL, a bidi override, a
    // carriage return that would overwrite the line, all in fields an attacker chooses (an MQTT
    // client id before any credential check, a topic), in an error's message and in the message.
    logger.warn({ clientId: '\x1b]0;pwned\x07\x1b[2J', topic: 'a\u009b31mb', other: 'x\x7fy\u202ez' }, 'mqtt connection refused');
    logger.error({ err: new Error('bad \x1b[31mred\r fake line') }, 'failed \x1b[1m\n12:00:00.000 INFO  a forged line');
    assert.equal(out.lines.length, 2);
    for (const line of out.lines) {
      assert.doesNotMatch(line.slice(0, -1), /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/, JSON.stringify(line));
    }
    assert.match(out.lines[0]!, /clientId="\\u001b\]0;pwned\\u0007\\u001b\[2J"/, 'escaped as JSON does, still readable');
    assert.match(out.lines[0]!, /topic="a\\u009b31mb"/);
    assert.match(out.lines[1]!.split('\n')[0]!, /failed \\u001b\[1m\\u000a12:00:00.000 INFO {2}a forged line$/, 'a message cannot start a line of its own');
  });
});


describe('createLogger: JSON on stdout, gathered and written together, never loses a line at exit (decision 0032)', () => {
  const node = process.execPath;
  const loggerModule = new URL('./create-logger.ts', import.meta.url).href;
  const run = (body: string): { stdout: string; status: number | null } => {
    const script = `import { createLogger } from ${JSON.stringify(loggerModule)};\nconst logger = createLogger('info', 'json');\n${body}`;
    const result = spawnSync(node, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
    return { stdout: result.stdout, status: result.status };
  };
  const linesOf = (stdout: string) => stdout.split('\n').filter((line) => line.length > 0).map((line) => JSON.parse(line) as { msg: string; n?: number });

  test('every line reaches stdout, in order, when the process exits at once after logging (process.exit)', () => {
    const { stdout, status } = run(`for (let n = 0; n < 20000; n++) logger.info({ n }, 'mqtt connection accepted');\nlogger.info('shutdown complete');\nprocess.exit(0);`);
    assert.equal(status, 0);
    const lines = linesOf(stdout);
    assert.equal(lines.length, 20001);
    assert.deepEqual(lines.slice(0, 20000).map((line) => line.n), Array.from({ length: 20000 }, (_, n) => n));
    assert.equal(lines.at(-1)!.msg, 'shutdown complete');
  });

  test('a fatal line logged just before an uncaught exception still reaches stdout', () => {
    const { stdout, status } = run(`for (let n = 0; n < 5000; n++) logger.info({ n }, 'filler');\nlogger.fatal('cannot start');\nthrow new Error('boom');`);
    assert.equal(status, 1);
    const lines = linesOf(stdout);
    assert.equal(lines.length, 5001);
    assert.equal(lines.at(-1)!.msg, 'cannot start');
  });

  test('a lone line logged while the process keeps running arrives without waiting for more lines (flushed within STDOUT_FLUSH_MS)', async () => {
    const child = spawn(node, ['--input-type=module', '-e',
      `import { createLogger } from ${JSON.stringify(loggerModule)};\ncreateLogger('info', 'json').info('listening');\nsetTimeout(() => {}, 60_000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no line within 20 s')), 20_000);
        let buffered = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          buffered += chunk;
          if (buffered.includes('\n')) {
            clearTimeout(timer);
            resolve(buffered.split('\n')[0]!);
          }
        });
      });
      assert.equal(JSON.parse(line).msg, 'listening');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
