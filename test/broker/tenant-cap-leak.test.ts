import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { InMemoryQuotaLedger } from '../../src/mqtt/quota-ledger.ts';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, issueAgent, registerVerifiedCa, Resources, waitForAgent } from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';

// Review of issue 16 (connected agents per tenant): a connection that goes away while its CONNECT
// is still in the broker's hands must not keep a place of its tenant for good. A persistent
// session's CONNECT counts its session (a ledger round trip: Redis in a cluster) after the
// admission and before the agent's place is taken; a connection closed in that window would
// take a place nothing frees. The ledger call is held here until the server has seen the close.

let server: TestServer;
const resources = new Resources();
let gate: { reached: () => void; open: Promise<void> } | undefined;
const claimSession = InMemoryQuotaLedger.prototype.claimSession;
before(async () => {
  InMemoryQuotaLedger.prototype.claimSession = async function (this: InMemoryQuotaLedger, ...args: Parameters<typeof claimSession>) {
    const held = gate;
    if (held) {
      held.reached();
      await held.open;
    }
    return claimSession.apply(this, args);
  };
  server = await startTestServer({ TRUSTGATE_MQTT_MAX_AGENTS_PER_TENANT: '1' });
  resources.add(() => server.close());
});
after(async () => {
  InMemoryQuotaLedger.prototype.claimSession = claimSession;
  await resources.closeAll();
});

test('an agent connection closed while its persistent session is counted leaves no place taken in the tenant\'s cap', { timeout: 60_000 }, async () => {
  const tenant = newTenant('ghost');
  const { ca } = await registerVerifiedCa(server, tenant);
  const ghost = await issueAgent(ca, 'ghost');
  let reached!: () => void;
  const atLedger = new Promise<void>((resolve) => { reached = resolve; });
  let open!: () => void;
  gate = { reached, open: new Promise<void>((resolve) => { open = resolve; }) };
  const socket: TLSSocket = tlsConnect({ host: 'localhost', port: server.mqttPort, ca: server.brokerRootCaPem, cert: ghost.certificatePem, key: ghost.privateKeyPem });
  socket.on('error', () => undefined);
  socket.once('secureConnect', () => socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: `${tenant}_ghost`, keepalive: 30 })));
  await atLedger;
  // Admitted: the agent is recorded online. The server has seen the close once it is offline again.
  await waitForAgent(server, tenant, `${tenant}_ghost`, (agent) => agent.online === true);
  socket.destroy();
  await waitForAgent(server, tenant, `${tenant}_ghost`, (agent) => agent.online === false);
  gate = undefined;
  open();

  // The tenant's only place is free: a real agent gets it (positive control: then the cap holds).
  resources.client(await connectAgent(server, await issueAgent(ca, 'real-a'), `${tenant}_real-a`));
  await assert.rejects(connectAgent(server, await issueAgent(ca, 'real-b'), `${tenant}_real-b`), (error: { code?: number }) => error.code === 5);
});
