import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, issueAgent, MessageLog, refusalCodeOf, registerVerifiedCa, Resources, subackCodes,
} from '../support/broker-helpers.ts';
import { captureLogs, type CapturedLogs } from '../support/capture-logs.ts';
import { sampleValue } from '../support/metrics-text.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { waitUntil } from '../support/wait-until.ts';

// The per-agent and per-tenant caps of issue 16, part 4 (docs/limits.md): in force with
// TRUSTGATE_RATE_LIMITS=off (what every test server runs with). Small caps keep the tests short.

const NOT_AUTHORIZED = 5;

describe('agent caps', () => {
  const resources = new Resources();
  let server: TestServer;
  let logs: CapturedLogs;

  before(async () => {
    logs = captureLogs('info');
    server = await startTestServer({
      TRUSTGATE_MQTT_MAX_PUBLISHES_PER_SECOND_PER_AGENT: '1', TRUSTGATE_MQTT_PUBLISH_BURST_PER_AGENT: '5', TRUSTGATE_MQTT_MAX_AGENTS_PER_TENANT: '2',
    }, { logger: logs.logger });
    resources.add(() => server.close());
  });
  after(() => resources.closeAll());

  const metric = async (name: string, labels: Record<string, string>): Promise<number> =>
    sampleValue(await (await fetch(`${server.url}/metrics`)).text(), name, labels);

  test('an agent publishing past its cap is disconnected with the logged reason publishRateExceeded; an application is not capped', async () => {
    const tenant = newTenant('pub');
    const { ca } = await registerVerifiedCa(server, tenant);
    const clientId = `${tenant}_chatty`;
    const reader = resources.client(await connectApplication(server, tenant));
    const log = new MessageLog(reader);
    await subackCodes(reader, { [`tc/${tenant}/#`]: { qos: 1 } });
    const agent = resources.client(await connectAgent(server, await issueAgent(ca, 'chatty'), clientId));
    // The burst (5) passes, delivered; well within a second, the 6th and later close the connection.
    for (let i = 0; i < 5; i += 1) await agent.publishAsync(`tc/${tenant}/${clientId}/o/n`, String(i), { qos: 1 });
    await waitUntil(() => log.under(`tc/${tenant}/${clientId}/o/n`).length === 5, 5_000, 'the burst to be delivered');
    for (let i = 5; i < 10; i += 1) agent.publish(`tc/${tenant}/${clientId}/o/n`, String(i), { qos: 0 });
    assert.equal(await closesWithin(agent, 5_000), true, 'disconnected');
    const closed = await logs.next('mqtt connection closed', { clientId });
    assert.equal(closed.reason, 'publishRateExceeded');
    assert.match(String(closed.detail), /1 PUBLISHes per second/);
    assert.equal(await metric('trustgate_mqtt_cap_hits_total', { cap: 'publishesPerSecond' }), 1);

    // A tenant application (one connection for many agents) publishes past it and stays.
    const application = resources.client(await connectApplication(server, tenant));
    for (let i = 0; i < 20; i += 1) await application.publishAsync(`tc/${tenant}/${clientId}/i/cmd`, String(i), { qos: 1 });
    assert.equal(application.connected, true);
  });

  test('a tenant\'s connected agents are capped: the N+1th gets CONNACK 5; a reconnect of a connected agent is not refused; a free place is taken again', async () => {
    const tenant = newTenant('cap');
    const other = newTenant('capother');
    const { ca } = await registerVerifiedCa(server, tenant);
    const { ca: otherCa } = await registerVerifiedCa(server, other);
    const first = resources.client(await connectAgent(server, await issueAgent(ca, 'a1'), `${tenant}_a1`));
    const secondCertificate = await issueAgent(ca, 'a2');
    const second = resources.client(await connectAgent(server, secondCertificate, `${tenant}_a2`));
    const third = await issueAgent(ca, 'a3');
    assert.equal(await refusalCodeOf(connectAgent(server, third, `${tenant}_a3`), resources), NOT_AUTHORIZED);
    assert.equal(await metric('trustgate_mqtt_connection_refusals_total', { reason: 'mqtt.tenantConnectionLimitReached' }), 1);
    // Another tenant is not affected, nor are the tenant's applications.
    resources.client(await connectAgent(server, await issueAgent(otherCa, 'a1'), `${other}_a1`));
    resources.client(await connectApplication(server, tenant));
    // The second agent reconnects while its old connection is still open (a takeover): admitted.
    const again = resources.client(await connectAgent(server, secondCertificate, `${tenant}_a2`));
    assert.equal(await closesWithin(second, 5_000), true, 'the old connection was taken over');
    assert.equal(again.connected, true);
    // One leaves: the third gets its place.
    await first.endAsync();
    await waitUntil(async () => {
      try {
        resources.client(await connectAgent(server, third, `${tenant}_a3`));
        return true;
      } catch {
        return false;
      }
    }, 5_000, 'the freed place to be taken');
  });
});
