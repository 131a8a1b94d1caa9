import assert from 'node:assert/strict';
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

