import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { newTenant } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, issueAgent, registerVerifiedCa, Resources, type VerifiedCa,
} from '../support/broker-helpers.ts';
import { captureLogs, LEVELS, type CapturedLogs } from '../support/capture-logs.ts';
import { mqttField, mqttPacket } from '../support/mqtt-wire.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { withTimeout } from '../support/with-timeout.ts';

// What the broker's log says about each connection (issue 14, item 2; issue 13, item 8): who was
// accepted, from where, with which certificate; one line for every session's end, with its
// reason; which sessions a trust change closed; why a publish was refused.

const fingerprintOf = (pem: string): string => new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();

describe('connection logs', () => {
  const resources = new Resources();
  let server: TestServer;
  let logs: CapturedLogs;
  let tenant: string;
  let verified: VerifiedCa;
  before(async () => {
    logs = captureLogs('debug');
    server = await startTestServer({}, { logger: logs.logger });
    tenant = newTenant('cl');
    verified = await registerVerifiedCa(server, tenant);
  });
  after(async () => {
    await resources.closeAll();
    await server.close();
  });

  const closedLine = (clientId: string) => logs.next('mqtt connection closed', { clientId });

  /** A raw MQTT connection of the tenant's application (token as password): CONNECT sent, CONNACK 0 read. */
  const rawApplication = async (clientId: string, keepAliveSeconds: number): Promise<TLSSocket> => {
    const socket = tlsConnect({ host: '127.0.0.1', port: server.mqttPort, ca: server.brokerRootCaPem, servername: 'localhost' });
    resources.add(() => { socket.destroy(); });
    socket.on('error', () => undefined);
    await withTimeout(new Promise((resolve) => socket.once('secureConnect', resolve)), 5_000, 'TLS handshake');
    const connack = withTimeout(new Promise<Buffer>((resolve) => socket.once('data', resolve)), 5_000, 'CONNACK');
    socket.write(mqttPacket(0x10, Buffer.concat([
      mqttField('MQTT'), Buffer.from([4, 0xc2, keepAliveSeconds >> 8, keepAliveSeconds & 0xff]), // user name, password, clean session
      mqttField(clientId), mqttField(tenant), mqttField(await server.token(tenant)),
    ])));
    assert.deepEqual([...(await connack)], [0x20, 0x02, 0x00, 0x00], 'CONNACK 0');
    return socket;
  };

  it('an accepted agent is logged with its remote address and certificate fingerprint; its DISCONNECT is the reason its session ended', async () => {
    const certificate = await issueAgent(verified.ca, 'log-a');
    const clientId = `${tenant}_log-a`;
    const agent = await connectAgent(server, certificate, clientId);
    const accepted = await logs.next('mqtt connection accepted', { clientId });
    assert.equal(accepted.kind, 'agent');
    assert.equal(accepted.tenant, tenant);
    assert.equal(accepted.remoteAddress, '127.0.0.1');
    assert.equal(accepted.certificateFingerprint, fingerprintOf(certificate.certificatePem));
    await withTimeout(agent.endAsync(), 3_000, 'DISCONNECT');
    const closed = await closedLine(clientId);
    assert.deepEqual([closed.reason, closed.tenant, closed.kind, closed.level], ['clientDisconnect', tenant, 'agent', LEVELS.info]);
  });

  it('an application is logged with its token subject; a connection dropped without DISCONNECT, and one taken over, say so', async () => {
    const dropped = resources.client(await connectApplication(server, tenant));
    const droppedId = String(dropped.options.clientId);
    const accepted = await logs.next('mqtt connection accepted', { clientId: droppedId });
    assert.deepEqual([accepted.kind, accepted.subject, accepted.remoteAddress], ['application', `dev-user@${tenant}`, '127.0.0.1']);
    dropped.stream.end(); // TCP/TLS close, no DISCONNECT
    assert.equal((await closedLine(droppedId)).reason, 'connectionLost');

    const clientId = `${tenant}_app-twice`;
    const first = resources.client(await connectApplication(server, tenant, { clientId }));
    const closes = closesWithin(first, 5_000);
    resources.client(await connectApplication(server, tenant, { clientId }));
    assert.equal(await closes, true, 'the first connection was taken over');
    const closed = await closedLine(clientId);
    assert.equal(closed.reason, 'takeover');
  });

  it('a keep-alive timeout and a malformed packet are reasons of their own', async () => {
    const silentId = `${tenant}_app-silent`;
    const silent = await rawApplication(silentId, 1);
    // Nothing sent after CONNECT: the broker closes after 1.5 keep-alive periods.
    await withTimeout(new Promise((resolve) => silent.once('close', resolve)), 5_000, 'the broker closing the silent connection');
    assert.equal((await closedLine(silentId)).reason, 'keepaliveTimeout');

    const garbledId = `${tenant}_app-garbled`;
    const garbled = await rawApplication(garbledId, 60);
    garbled.write(Buffer.from([0x10, 0x00])); // a second CONNECT
    await withTimeout(new Promise((resolve) => garbled.once('close', resolve)), 5_000, 'the broker closing the garbled connection');
    const closed = await closedLine(garbledId);
    assert.equal(closed.reason, 'socketError');
    assert.equal(typeof closed.detail, 'string');
  });

  it('disabling an agent logs a line naming tenant and subject, the trust-change line names the client ids it closed, and the session end says why', async () => {
    const certificate = await issueAgent(verified.ca, 'log-d');
    const clientId = `${tenant}_log-d`;
    const agent = resources.client(await connectAgent(server, certificate, clientId));
    const agentId = ((await server.api(tenant, '/agents')).body as { id: string; clientId: string }[]).find((a) => a.clientId === clientId)!.id;
    const closes = closesWithin(agent, 5_000);
    assert.equal((await server.api(tenant, `/agents/${agentId}`, { method: 'PATCH', body: { enabled: false } })).status, 200);
    const disabled = await logs.next('agent disabled', { agentId });
    assert.deepEqual([disabled.tenant, disabled.subject, disabled.clientId], [tenant, `dev-user@${tenant}`, clientId]);
    assert.equal(await closes, true);
    const trustChange = await logs.next('closed sessions after a trust change', { event: 'agentDisabled', tenant });
    assert.deepEqual(trustChange.clientIds, [clientId]);
    const closed = await closedLine(clientId);
    assert.deepEqual([closed.reason, closed.detail], ['trustWithdrawn', 'agentDisabled']);
    assert.equal((await server.api(tenant, `/agents/${agentId}`, { method: 'PATCH', body: { enabled: true } })).status, 200);
    const enabled = await logs.next('agent enabled', { agentId });
    assert.deepEqual([enabled.tenant, enabled.subject], [tenant, `dev-user@${tenant}`]);
  });

  it('a session whose token expires ends with that reason', async () => {
    const password = await server.token(tenant, { ttlSeconds: 2 });
    const clientId = `${tenant}_app-expiring`;
    const client = resources.client(await connectApplication(server, tenant, { clientId, password }));
    assert.equal(await closesWithin(client, 5_000), true, 'closed when the token expired');
    const closed = await closedLine(clientId);
    assert.deepEqual([closed.reason, closed.detail], ['expired', 'auth.tokenExpired']);
  });

  it('a read-only application publishing to an agent is refused for the missing mcmqtt.admin, not the topic', async () => {
    const reader = resources.client(await connectApplication(server, tenant, { scopes: ['mcmqtt.read'] }));
    const clientId = String(reader.options.clientId);
    const closes = closesWithin(reader, 5_000);
    reader.publish(`tc/${tenant}/${tenant}_log-a/i/command`, 'x', { qos: 1 });
    assert.equal(await closes, true, 'the connection is closed');
    const denied = await logs.next('mqtt publish denied, closing the connection', { clientId });
    assert.equal(denied.reason, 'missing scope mcmqtt.admin');
    // Positive control of the other reason: a topic no scope opens.
    const writer = resources.client(await connectApplication(server, tenant, { scopes: ['mcmqtt.read'] }));
    const writerClosed = closesWithin(writer, 5_000);
    writer.publish(`tc/${tenant}/${tenant}_log-a/o/data`, 'x', { qos: 1 });
    assert.equal(await writerClosed, true);
    assert.equal((await logs.next('mqtt publish denied, closing the connection', { clientId: String(writer.options.clientId) })).reason, 'topic not allowed');
  });
});
