import assert from 'node:assert/strict';
import dns from 'node:dns';
import { lookup } from 'node:dns/promises';
import { syncBuiltinESMExports } from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from '../../test/support/wait-until.ts';
import { postWebhook } from './post-webhook.ts';

// SSRF at delivery time: the checked address is the one connected to. A listed name that resolves
// to a loopback address is refused (no connection is made); the address listed itself is not.

let port: number;
let hits = 0;
const server = createServer((request, response) => {
  hits += 1;
  response.writeHead(request.url === '/redirect' ? 302 : 200, { location: '/elsewhere' }).end('x'.repeat(1000));
});
before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const base = { secret: 's'.repeat(16), body: '{}', eventId: 'e', deliveryId: 'd', timeoutMs: 2000, now: new Date() };

it('posts to a listed address; keeps only the first 256 bytes of the answer; a 3xx is answered, not followed', async () => {
  const policy = { allowedHosts: ['127.0.0.1'], allowsHttp: true };
  const answer = await postWebhook({ ...base, url: `http://127.0.0.1:${port}/in`, policy });
  assert.equal(answer.status, 200);
  assert.equal(answer.body.length, 256);
  const redirect = await postWebhook({ ...base, url: `http://127.0.0.1:${port}/redirect`, policy });
  assert.equal(redirect.status, 302);
});

it('a listed name that resolves to a loopback address is refused before connecting', async (t) => {
  const name = hostname().toLowerCase();
  const addresses = await lookup(name, { all: true }).catch(() => []);
  if (addresses.length === 0 || !addresses.every((address) => address.address.startsWith('127.') || address.address === '::1')) {
    t.skip(`${name} does not resolve to loopback only here`);
    return;
  }
  const before = hits;
  await assert.rejects(postWebhook({ ...base, url: `http://${name}:${port}/in`, policy: { allowedHosts: [name], allowsHttp: true } }), /does not allow/);
  assert.equal(hits, before, 'no request reached the server');
  // The operator listing the address too allows it.
  const answer = await postWebhook({ ...base, url: `http://${name}:${port}/in`, policy: { allowedHosts: [name, '127.0.0.1'], allowsHttp: true } });
  assert.equal(answer.status, 200);
});

it('the allow-list is checked again at delivery: a host removed since registration is refused', async () => {
  await assert.rejects(postWebhook({ ...base, url: `http://127.0.0.1:${port}/in`, policy: { allowedHosts: ['hooks.example.com'], allowsHttp: true } }), { code: 'webhook.hostNotAllowed' });
});

it('a target that does not answer in time is a failed attempt', async () => {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    await assert.rejects(postWebhook({ ...base, timeoutMs: 200, url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/in`, policy: { allowedHosts: ['127.0.0.1'], allowsHttp: true } }), /200 ms|abort/i);
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});

it('https: the receiver\'s certificate is verified (a self-signed one is a failed attempt, nothing is sent)', async () => {
  const { createCa } = await import('../../test/support/test-pki.ts');
  const { createServer: createHttpsServer } = await import('node:https');
  const selfSigned = await createCa({ subject: 'CN=127.0.0.1' });
  let received = 0;
  const tlsServer = createHttpsServer({ cert: selfSigned.certificatePem, key: selfSigned.privateKeyPem }, (_request, response) => {
    received += 1;
    response.writeHead(200).end();
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  try {
    const url = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}/in`;
    await assert.rejects(postWebhook({ ...base, url, policy: { allowedHosts: ['127.0.0.1'], allowsHttp: false } }), /certificate|self.signed/i);
    assert.equal(received, 0);
  } finally {
    tlsServer.closeAllConnections();
    tlsServer.close();
  }
});

describe('hostile receivers: every attempt ends within the timeout, reading at most a snippet', () => {
  const policy = { allowedHosts: ['127.0.0.1'], allowsHttp: true };
  const serve = async (handler: Parameters<typeof createServer>[1], onConnection?: (socket: import('node:net').Socket) => void) => {
    const hostile = createServer(handler);
    if (onConnection) hostile.on('connection', onConnection);
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(hostile.address() as AddressInfo).port}/in`, close: () => { hostile.closeAllConnections(); hostile.close(); } };
  };
  const settlesWithin = async (attempt: Promise<unknown>, ms: number): Promise<unknown> => {
    const started = Date.now();
    const outcome = await attempt.then((value) => value, (error: Error) => error);
    assert.ok(Date.now() - started < ms, `settled after ${Date.now() - started} ms`);
    return outcome;
  };

  it('a body dripped a byte at a time, never ended: the attempt ends at the timeout (a failed attempt)', async () => {
    const drip = await serve((_request, response) => {
      response.writeHead(200);
      const timer = setInterval(() => response.write('x'), 20);
      response.on('close', () => clearInterval(timer));
    });
    try {
      const outcome = await settlesWithin(postWebhook({ ...base, timeoutMs: 300, url: drip.url, policy }), 3_000);
      assert.ok(outcome instanceof Error && /300 ms/.test(outcome.message), String(outcome));
    } finally {
      drip.close();
    }
  });

  it('headers dripped, never finished: the attempt ends at the timeout', async () => {
    const drip = await serve(() => undefined, (socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      const timer = setInterval(() => socket.write('X-Slow: y\r\n'), 20);
      socket.on('close', () => clearInterval(timer));
    });
    try {
      const outcome = await settlesWithin(postWebhook({ ...base, timeoutMs: 300, url: drip.url, policy }), 3_000);
      assert.ok(outcome instanceof Error, String(outcome));
    } finally {
      drip.close();
    }
  });

  it('an endless body: 256 bytes kept, the connection closed at once (no gigabytes read or stored)', async () => {
    let written = 0;
    let closed = false;
    const flood = await serve((_request, response) => {
      response.writeHead(200);
      const write = (): void => {
        while (!closed && response.write(Buffer.alloc(65_536, 120))) written += 65_536;
      };
      response.on('drain', write);
      response.on('close', () => { closed = true; });
      write();
    });
    try {
      const answer = await settlesWithin(postWebhook({ ...base, timeoutMs: 5_000, url: flood.url, policy }), 4_000) as { status: number; body: string };
      assert.equal(answer.status, 200);
      assert.equal(answer.body.length, 256);
      await waitUntil(() => closed, 2_000, 'the receiver sees the connection closed');
      assert.ok(written < 64 * 1024 * 1024, `${written} bytes written before the close`);
    } finally {
      flood.close();
    }
  });

  it('a receiver that never reads the request: the attempt ends at the timeout', async () => {
    const stuck = await serve((request) => request.pause());
    try {
      const outcome = await settlesWithin(postWebhook({ ...base, body: 'x'.repeat(4_000_000), timeoutMs: 300, url: stuck.url, policy }), 3_000);
      assert.ok(outcome instanceof Error, String(outcome));
    } finally {
      stuck.close();
    }
  });
});

describe('DNS rebinding: one resolution per attempt, and the connection goes to an address it checked', () => {
  const answers: string[][] = [];
  let lookups = 0;
  const realLookup = dns.lookup;
  before(() => {
    // Every lookup of rebind.test answers the next prepared list (a name whose answers change).
    (dns as { lookup: unknown }).lookup = (hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
      if (hostname !== 'rebind.test') return (realLookup as (...args: unknown[]) => void)(hostname, options, callback);
      lookups += 1;
      const next = answers.shift() ?? ['127.0.0.1'];
      queueMicrotask(() => callback(null, next.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))));
    };
    syncBuiltinESMExports();
  });
  after(() => {
    (dns as { lookup: unknown }).lookup = realLookup;
    syncBuiltinESMExports();
  });
  const policy = { allowedHosts: ['rebind.test', '127.0.0.1'], allowsHttp: true };

  it('an answer naming the metadata address beside an allowed one is refused whole: no connection', async () => {
    const before = hits;
    lookups = 0;
    answers.push(['127.0.0.1', '169.254.169.254']);
    await assert.rejects(postWebhook({ ...base, url: `http://rebind.test:${port}/in`, policy }), /169\.254\.169\.254/);
    assert.equal(hits, before);
    assert.equal(lookups, 1);
  });

  it('the checked answer is the one connected to: a second, rebound answer is never asked for', async () => {
    const before = hits;
    lookups = 0;
    // First answer: allowed (127.0.0.1 is listed). Any later one would be the metadata address.
    answers.push(['127.0.0.1'], ['169.254.169.254'], ['169.254.169.254']);
    const answer = await postWebhook({ ...base, url: `http://rebind.test:${port}/in`, policy, secret: 'r'.repeat(16) });
    assert.equal(answer.status, 200);
    assert.equal(hits, before + 1);
    assert.equal(lookups, 1, 'one resolution: checked and connected');
    answers.length = 0;
  });
});
