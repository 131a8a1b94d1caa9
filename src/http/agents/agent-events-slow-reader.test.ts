import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { createDevTokenVerifier, loadOrCreateDevSigningKey, mintDevToken } from '../../auth/index.ts';
import type { AgentRecord } from '../../registry/index.ts';
import { registryFixture } from '../../../test/support/registry-fixture.ts';
import { waitUntil } from '../../../test/support/wait-until.ts';
import { API_BASE_PATH, createHttpServer } from '../create-http-server.ts';

// Review of issue 17: a reader that opens GET /agents/events and never reads, while a tenant's
// 2,000 agents change on every poll. Its socket fills, it is cut off after stallMs, and its place
// (the tenant's only one here) is given back: the server's memory and the watch do not stay
// with a client that went silent.

test('a reader that never reads is cut off after stallMs and its watch place comes back', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'trustgate-slow-reader-'));
  const key = await loadOrCreateDevSigningKey(dataDir);
  const fixture = registryFixture();
  let tick = 0;
  // Every read: 2,000 agents, each changed since the last read (≈ 1 MB of events per poll).
  const agents = (): AgentRecord[] => {
    tick += 1;
    return Array.from({ length: 2_000 }, (_, i) => ({
      id: `agent-${i}`, tenant: 'slow', clientId: `slow_${'x'.repeat(300)}${i}`, commonName: `cn-${i}`, caCertificateId: 'ca-1',
      certificateFingerprintSha256: 'ab'.repeat(32), certificateValidity: undefined, isEnabled: true, isOnline: tick % 2 === 0,
      firstConnectedAt: new Date(0), lastConnectedAt: new Date(tick * 1000),
    }) as unknown as AgentRecord);
  };
  const app = await createHttpServer({
    registry: { ...fixture.registry, listAgents: async () => agents() } as typeof fixture.registry,
    tokens: createDevTokenVerifier(key.publicJwk),
    logger: pino({ level: 'silent' }),
    devJwks: { keys: [key.publicJwk] },
    metrics: new MetricsRegistry(),
    brokerRootCaPem: undefined,
    broker: { port: 8883, hostnames: ['localhost'] },
    agentEvents: { pollMs: 50, stallMs: 1_500, maxStreamsPerTenant: 1 },
  });
  const sockets: Socket[] = [];
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });

    const port = (app.server.address() as { port: number }).port;
    const token = await mintDevToken(key, { tenant: 'slow', scopes: ['mcmqtt.read'], ttlSeconds: 600 });
    const open = () => fetch(`http://127.0.0.1:${port}${API_BASE_PATH}/agents/events`, { headers: { authorization: `Bearer ${token}` } });

    // The silent reader: sends its request, then never reads a byte.
    const silent = connect(port, '127.0.0.1');

    sockets.push(silent);
    let closedAt: number | undefined;
    silent.on('close', () => { closedAt = performance.now(); });
    silent.on('error', () => undefined);
    silent.pause();
    silent.write(`GET ${API_BASE_PATH}/agents/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    const openedAt = performance.now();

    // Positive control: while it is open, it holds the tenant's one place.
    await waitUntil(async () => {
      const answer = await open();
      await answer.body?.cancel();
      return answer.status === 429;
    }, 10_000, 'the silent stream holds the only place');

    // Cut off: the place comes back, a few seconds at most after the socket filled.
    let again: Response | undefined;
    await waitUntil(async () => {
      await again?.body?.cancel();
      again = await open();
      return again.status === 200;
    }, 20_000, 'the place comes back once the silent reader is cut off');
    const freedAfterMs = performance.now() - openedAt;
    assert.ok(freedAfterMs >= 1_500, `freed ${Math.round(freedAfterMs)} ms after it opened: not before stallMs`);
    // The reader that reads gets its list at once.
    const reader = again!.body!.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /^event: agents\n/);
    await reader.cancel();
    await waitUntil(async () => closedAt !== undefined || silent.destroyed || (silent.resume(), false), 10_000, 'the silent socket was closed by the server');
  } finally {
    for (const socket of sockets) socket.destroy();
    // fetch's pool may hold a connection that never sent a request: Node waits headersTimeout for it
    // (start-app forces them after its grace period; a test does it at once).
    app.server.closeAllConnections();
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
