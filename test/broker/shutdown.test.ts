import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import { connectApplication, Resources } from '../support/broker-helpers.ts';
import { captureLogs, type CapturedLogs } from '../support/capture-logs.ts';
import { TEST_REDIS_URL, uniqueRedisPrefix } from '../support/redis-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { testNeeding } from '../support/test-services.ts';
import { withTimeout } from '../support/with-timeout.ts';

// Graceful shutdown as a load balancer follows it (docs/deployment.md, "What happens when"):
// /readyz answers 503 from the first moment, the listeners stay open for TRUSTGATE_SHUTDOWN_DELAY_MS,
// the clients are disconnected evenly over TRUSTGATE_DRAIN_MS (cluster), the HTTP server answers
// through all of it, and the last line says the shutdown is complete. RunningApp.close() is what
// `trustgate serve` calls on SIGTERM.

const readyz = async (server: TestServer): Promise<{ status: number; node?: string } | 'refused'> => {
  try {
    const response = await fetch(`${server.url}/readyz`);
    const body = await response.json() as { checks?: Record<string, string> };
    return { status: response.status, node: body.checks?.node };
  } catch {
    return 'refused';
  }
};

/** When each client's connection closed (performance.now()), and what /readyz said at that moment. */
const watchCloses = (server: TestServer, clients: readonly MqttClient[]) => {
  const closedAt = new Map<MqttClient, number>();
  const readinessSeen: Promise<Awaited<ReturnType<typeof readyz>>>[] = [];
  const allClosed = Promise.all(clients.map((client) => new Promise<void>((resolve) => {
    client.once('close', () => {
      closedAt.set(client, performance.now());
      readinessSeen.push(readyz(server));
      resolve();
    });
  })));
  return { closedAt, readinessSeen, allClosed };
};

const closedLines = (logs: CapturedLogs, clients: readonly MqttClient[]) =>
  clients.map((client) => logs.find('mqtt connection closed', { clientId: client.options.clientId })[0]);

describe('graceful shutdown', () => {
  const resources = new Resources();
  after(() => resources.closeAll());

  it('with TRUSTGATE_SHUTDOWN_DELAY_MS, /readyz answers 503 while both listeners stay open for the delay; then the node closes and logs "shutdown complete"', async () => {
    const DELAY_MS = 2_000;
    const logs = captureLogs('debug');
    const server = await startTestServer({ TRUSTGATE_SHUTDOWN_DELAY_MS: String(DELAY_MS) }, { logger: logs.logger });
    const tenant = newTenant('sd');
    const earlier = resources.client(await connectApplication(server, tenant));
    const watch = watchCloses(server, [earlier]);

    const closing = server.close();
    const started = await logs.next('shutting down: /readyz answers 503 from now on');
    assert.deepEqual(await readyz(server), { status: 503, node: 'draining for shutdown' });
    // The balancer has not taken the node out yet: a new client is still served, the old one stays.
    const newcomer = resources.client(await connectApplication(server, tenant));
    assert.ok(earlier.connected && newcomer.connected, 'both sessions open during the delay');
    assert.deepEqual(logs.find('shutdown delay over: closing the listeners'), [], 'still within the delay (positive control: the line comes below)');
    assert.equal(watch.closedAt.size, 0, 'no session closed during the delay');

    const over = await logs.next('shutdown delay over: closing the listeners', {}, DELAY_MS + 5_000);
    // Log times are wall-clock milliseconds and timers run on the monotonic clock: a few ms either way.
    assert.ok(over.time - started.time >= DELAY_MS - 5, `the delay lasted ${over.time - started.time} ms`);
    await withTimeout(closing, 10_000, 'close() after the delay');
    await withTimeout(watch.allClosed, 5_000, 'the session closed');
    for (const seen of await Promise.all(watch.readinessSeen)) {
      assert.ok(seen === 'refused' || seen.status === 503, `/readyz as the sessions closed: ${JSON.stringify(seen)}`);
    }
    const complete = logs.find('shutdown complete');
    assert.equal(complete.length, 1);
    assert.equal(logs.lines.at(-1)?.msg, 'shutdown complete', 'the last line');
    assert.ok(typeof complete[0]!.durationMs === 'number' && complete[0]!.durationMs >= DELAY_MS - 5);
    // A single node has nowhere to send its clients: they are closed at once, each logged as such.
    for (const line of closedLines(logs, [earlier, newcomer])) assert.equal(line?.reason, 'shutdown', JSON.stringify(line));
  });

  testNeeding('postgres', 'redis')('in a cluster, the clients are disconnected evenly over TRUSTGATE_DRAIN_MS after the delay, /readyz answers 503 (not refused) through the drain, and no new connection is taken', async () => {
    const DELAY_MS = 300;
    const DRAIN_MS = 1_600;
    const CLIENTS = 5;
    const logs = captureLogs('debug');
    const server = await startTestServer({
      TRUSTGATE_REDIS_URL: TEST_REDIS_URL, TRUSTGATE_REDIS_PREFIX: uniqueRedisPrefix('drain'), TRUSTGATE_NODE_ID: 'drain-test',
      TRUSTGATE_SHUTDOWN_DELAY_MS: String(DELAY_MS), TRUSTGATE_DRAIN_MS: String(DRAIN_MS),
    }, { dialect: 'postgres', logger: logs.logger });
    const tenant = newTenant('dr');
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connectApplication(server, tenant).then((c) => resources.client(c))));
    const watch = watchCloses(server, clients);

    const signalledAt = performance.now();
    const closing = server.close();
    await logs.next('shutdown delay over: closing the listeners', {}, DELAY_MS + 5_000);
    await withTimeout(Promise.race(clients.map((client) => new Promise<void>((resolve) => {
      if (watch.closedAt.has(client)) resolve();
      else client.once('close', () => resolve());
    }))), DRAIN_MS, 'the first disconnect of the drain');
    // The listener is closed for the drain: a newcomer goes elsewhere.
    await assert.rejects(connectApplication(server, tenant), 'a connection during the drain is refused');

    await withTimeout(watch.allClosed, DRAIN_MS + 3_000, 'every client disconnected by the drain');
    const times = [...watch.closedAt.values()].sort((a, b) => a - b);
    const first = times[0]! - signalledAt;
    const spread = times.at(-1)! - times[0]!;
    // Evenly: one every DRAIN_MS / CLIENTS (320 ms), the first at once, the last 1,280 ms later.
    assert.ok(first >= DELAY_MS, `the first disconnect came ${first.toFixed(0)} ms after close(), before the delay ended`);
    assert.ok(spread >= DRAIN_MS * 0.6, `the disconnects spread over ${spread.toFixed(0)} ms only (drain ${DRAIN_MS} ms)`);
    assert.ok(spread <= DRAIN_MS + 500, `the disconnects spread over ${spread.toFixed(0)} ms (drain ${DRAIN_MS} ms)`);
    for (const seen of await Promise.all(watch.readinessSeen)) {
      assert.deepEqual(seen, { status: 503, node: 'draining for shutdown' }, '/readyz answers 503 at every disconnect of the drain');
    }
    await withTimeout(closing, 10_000, 'close() after the drain');
    for (const line of closedLines(logs, clients)) assert.equal(line?.reason, 'drain', JSON.stringify(line));
    const complete = logs.lines.findIndex((line) => line.msg === 'shutdown complete');
    assert.ok(complete >= 0, '"shutdown complete" logged');
    assert.ok(logs.lines.slice(complete + 1).every((line) => line.msg !== 'mqtt connection closed'), 'every session ended before it');
  });
});
