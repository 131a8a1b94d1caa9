import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TenantId } from '../../src/shared/index.ts';
import { closesWithin, controlArrives, isControl, MessageLog, subackCodes } from '../support/broker-helpers.ts';
import { inProcessBrokers, type InProcessNode } from '../support/in-process-brokers.ts';
import { waitUntil } from '../support/wait-until.ts';
import { describeNeeding } from '../support/test-services.ts';

// The broker caps hold in a cluster: two brokers in one process, each with its own backplane on
// the shared Redis (aedes-persistence-redis), the counts in Redis (src/cluster/redis-quota-ledger.ts).

const TENANT = 'quotas' as TenantId;
const CAPS = {
  TRUSTGATE_MQTT_MAX_QUEUED_PER_CLIENT: '5',
  TRUSTGATE_MQTT_MAX_RETAINED_PER_TENANT: '4',
};
const brokers = inProcessBrokers({ tenant: TENANT, caName: 'quota', prefixLabel: 'quotas', config: CAPS, cleanUp: 'each' });
const { unique, connectApplication } = brokers;

describeNeeding('redis')('broker caps across the nodes of a cluster', () => {
  test('retained messages left through two nodes stop at one tenant cap', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const agent = unique('agent');
    const one = await connectApplication(node1, unique('one'));
    const two = await connectApplication(node2, unique('two'));
    for (let n = 1; n <= 3; n += 1) {
      await one.publishAsync(`tc/${TENANT}/${agent}/i/one/${n}`, `one-${n}`, { qos: 1, retain: true });
      await two.publishAsync(`tc/${TENANT}/${agent}/i/two/${n}`, `two-${n}`, { qos: 1, retain: true });
    }
    const reader = await connectApplication(node1, unique('reader'));
    const log = new MessageLog(reader);
    await subackCodes(reader, { [`tc/${TENANT}/${agent}/i/#`]: { qos: 1 } });
    await waitUntil(() => log.messages.length >= 4, 5_000, 'the retained messages');
    // Positive control: a message after them arrives; no fifth retained one came before it.
    await controlArrives(one, `tc/${TENANT}/${agent}/i/marker`, [log]);
    assert.equal(log.messages.filter((m) => !isControl(m)).length, 4, `retained: ${log.messages.map((m) => m.topic).join(', ')}`);
  });

  test('a persistent session\'s queue stops at its cap when messages come in through both nodes', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const agent = unique('agent');
    const sessionId = unique('away');
    const away = await connectApplication(node1, sessionId, { clean: false });
    await subackCodes(away, { [`tc/${TENANT}/${agent}/i/#`]: { qos: 1 } });
    away.end(true);
    await closesWithin(away, 3_000);
    const one = await connectApplication(node1, unique('one'));
    const two = await connectApplication(node2, unique('two'));
    for (let n = 1; n <= 4; n += 1) {
      await one.publishAsync(`tc/${TENANT}/${agent}/i/m`, `one-${n}`, { qos: 1 });
      await two.publishAsync(`tc/${TENANT}/${agent}/i/m`, `two-${n}`, { qos: 1 });
    }
    let log!: MessageLog;
    await connectApplication(node2, sessionId, { clean: false }, (client) => { log = new MessageLog(client); });
    await waitUntil(() => log.messages.length >= 5, 5_000, 'the queued messages');
    await controlArrives(one, `tc/${TENANT}/${agent}/i/marker`, [log]);
    assert.equal(log.on(`tc/${TENANT}/${agent}/i/m`).length, 5, `queued: ${log.messages.map((m) => m.payload.toString()).join(', ')}`);
  });

  test('a persistent session away longer than the expiry is deleted; one taken over by a connection on the other node is not', async () => {
    const expiring = { TRUSTGATE_MQTT_SESSION_EXPIRY_SECONDS: '1' };
    const [node1, node2] = await brokers.twoNodes({ config: expiring });
    const { admin, prefix } = brokers;
    const agent = unique('agent');
    // Moved first: had its clock been started by the takeover, it would expire before `gone`.
    const movedId = unique('moved');
    const before = await connectApplication(node1, movedId, { clean: false });
    await subackCodes(before, { [`tc/${TENANT}/${agent}/i/#`]: { qos: 1 } });
    const beforeClosed = closesWithin(before, 3_000);
    let movedLog!: MessageLog;
    const moved = await connectApplication(node2, movedId, { clean: false }, (client) => { movedLog = new MessageLog(client); });
    assert.equal(await beforeClosed, true, 'taken over');
    const goneId = unique('gone');
    const gone = await connectApplication(node1, goneId, { clean: false });
    await subackCodes(gone, { [`tc/${TENANT}/${agent}/i/#`]: { qos: 1 } });
    gone.end(true);
    await closesWithin(gone, 3_000);

    const sessionKey = (id: string) => `${prefix}mqtt:client:${encodeURIComponent(id)}`;
    assert.equal(await admin.exists(sessionKey(goneId)), 1);
    await waitUntil(async () => await admin.exists(sessionKey(goneId)) === 0, 10_000, 'the session away expired');
    // The moved session is intact: still subscribed, it receives.
    const publisher = await connectApplication(node1, unique('publisher'));
    const arrived = movedLog.next(`tc/${TENANT}/${agent}/i/m`, 5_000, 'for moved');
    await publisher.publishAsync(`tc/${TENANT}/${agent}/i/m`, 'for moved', { qos: 1 });
    await arrived;
    assert.equal(moved.connected, true);
    assert.equal(await admin.exists(sessionKey(movedId)), 1);
  });

  test('persistent client ids minted past the tenant cap are refused on both nodes; resuming on the other node and cleaning work, a clean CONNECT sends no more to Redis', async () => {
    const capped = { ...CAPS, TRUSTGATE_MQTT_MAX_PERSISTENT_SESSIONS_PER_TENANT: '2' };
    const [node1, node2] = await brokers.twoNodes({ config: capped });
    const { admin, prefix } = brokers;
    const refusalCode = async (node: InProcessNode, clientId: string): Promise<number | undefined> => {
      try {
        await connectApplication(node, clientId, { clean: false });
      } catch (error) {
        return (error as { code?: number }).code;
      }
      return 0;
    };
    const [p1, p2, p3] = [unique('p1'), unique('p2'), unique('p3')];
    const first = await connectApplication(node1, p1, { clean: false });
    await connectApplication(node2, p2, { clean: false });
    assert.equal(await refusalCode(node1, p3), 5);
    assert.equal(await refusalCode(node2, p3), 5, 'the other node counts the same sessions');
    const firstClosed = closesWithin(first, 3_000);
    await connectApplication(node2, p1, { clean: false });
    assert.equal(await firstClosed, true, 'resumed on the other node (taken over), not refused');

    // A clean CONNECT sends the same one script to the ledger as before (the queue reset, which
    // now also frees the session's place), not waited for; the claim is for clean = false only.
    // Watched with MONITOR: scripts sent on this test's keys.
    const monitor = await admin.duplicate().monitor();
    const scripts: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!source.startsWith('lua') && args[0]?.toLowerCase() === 'eval' && args.some((a) => a.startsWith(`${prefix}mqtt:quota:`))) {
        scripts.push(args[1]!.includes('SREM') ? 'sessionCleaned' : args[1]!.includes('SADD') ? 'claimSession' : 'other');
      }
    });
    await connectApplication(node1, p2, { clean: true });
    await waitUntil(() => scripts.length >= 1, 5_000, 'the reset');
    await connectApplication(node2, p3, { clean: false }); // p2's place was freed
    await waitUntil(() => scripts.length >= 2, 5_000, 'the claim');
    await monitor.disconnect();
    assert.deepEqual(scripts, ['sessionCleaned', 'claimSession']);
  });
});
