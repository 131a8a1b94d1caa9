import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TenantId } from '../../src/shared/index.ts';
import { closesWithin } from '../support/broker-helpers.ts';
import { captureLogs } from '../support/capture-logs.ts';
import { inProcessBrokers } from '../support/in-process-brokers.ts';
import { describeNeeding } from '../support/test-services.ts';

// A client id taken over from another node (aedes' `$SYS/<broker>/new/clients` over Redis) ends
// the older session with reason "takeover" in its node's log, like a takeover on one node
// (test/broker/connection-logs.test.ts).

const TENANT = 'takeoverlog' as TenantId;
const brokers = inProcessBrokers({ tenant: TENANT, caName: 'takeover log', prefixLabel: 'takeover-log', cleanUp: 'each' });

describeNeeding('redis')('disconnect reasons across nodes', () => {
  test('a connection taken over by the same client id on another node is logged as a takeover on its node', async () => {
    brokers.reset();
    const logs1 = captureLogs('debug');
    const node1 = await brokers.startNode({ logger: logs1.logger });
    const node2 = await brokers.startNode();
    const clientId = brokers.unique('twice');
    const older = await brokers.connectApplication(node1, clientId);
    const closes = closesWithin(older, 5_000);
    const newer = await brokers.connectApplication(node2, clientId);
    assert.equal(await closes, true, 'the older connection was taken over');
    const closed = await logs1.next('mqtt connection closed', { clientId });
    assert.equal(closed.reason, 'takeover');
    assert.equal(closed.detail, 'a connection with the same client id on another node');
    assert.ok(newer.connected, 'the newer connection stays');
  });
});
