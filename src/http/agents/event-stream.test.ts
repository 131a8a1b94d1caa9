import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { openEventStream, type EventStream } from './event-stream.ts';

// A client that reads slowly or not at all must not make the server buffer without bound: held
// back events are one per key (an agent's latest state), and a client that does not read for
// stallMs is cut off. A client that reads gets everything, a burst included.

const STALL_MS = 300;
const PADDING = 'x'.repeat(8 * 1024);

const serve = async (onStream: (stream: EventStream, closed: Promise<string>) => void): Promise<Server> => {
  const server = createServer((_request, response) => {
    let resolveClosed!: (how: string) => void;
    const closed = new Promise<string>((resolve) => { resolveClosed = resolve; });
    onStream(openEventStream(response, { headers: { 'x-request-id': 'r1' }, pingMs: 60_000, stallMs: STALL_MS, onClose: resolveClosed }), closed);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
};

const portOf = (server: Server): number => (server.address() as AddressInfo).port;

test('a reader that does not read holds at most one event per key, and is cut off after stallMs', async () => {
  let how: string | undefined;
  let maxPending = 0;
  const server = await serve((stream, closed) => {
    void closed.then((value) => { how = value; });
    // 100 agents changing as fast as events can be made, as a busy tenant would.
    let round = 0;
    const pump = setInterval(() => {
      for (let i = 0; i < 100 && how === undefined; i += 1) stream.send('agent', { i, round, PADDING }, `agent-${i}`);
      round += 1;
      maxPending = Math.max(maxPending, stream.pendingCount);
      if (how !== undefined) clearInterval(pump);
    }, 1);
  });
  const socket = connect(portOf(server), '127.0.0.1');
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  // Never reads: the kernel's buffers fill, then the events are held back.
  socket.pause();
  const deadline = Date.now() + 20_000;
  while (how === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  socket.destroy();
  server.close();
  assert.equal(how, 'slowReader');
  assert.ok(maxPending > 0, 'events were held back (positive control)');
  assert.ok(maxPending <= 100, `at most one held-back event per agent, saw ${maxPending}`);
});

test('a reader that reads gets every event of a burst larger than the socket\'s buffers, the last state of each key, and the headers', async () => {
  const server = await serve((stream) => {
    // A burst of 400 distinct agents (3 MiB), then a later state of agent 0, then the end.
    for (let i = 0; i < 400; i += 1) stream.send('agent', { i, state: 'first', PADDING }, `agent-${i}`);
    stream.send('agent', { i: 0, state: 'second' }, 'agent-0');
    setTimeout(() => stream.end('serverClosing'), 500);
  });
  const response = await fetch(`http://127.0.0.1:${portOf(server)}/`);
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  assert.equal(response.headers.get('x-request-id'), 'r1');
  const text = await response.text();
  server.close();
  const events = [...text.matchAll(/^data: (.*)$/gm)].map((match) => JSON.parse(match[1]!));
  const agents = events.filter((event) => typeof event.i === 'number');
  assert.deepEqual(new Set(agents.map((event) => event.i)).size, 400, 'every agent arrived');
  assert.equal(agents.filter((event) => event.i === 0).at(-1).state, 'second', 'agent 0\'s last state is the latest');
  assert.match(text, /event: streamEnd\ndata: {"reason":"serverClosing"}\n\n$/);
});
