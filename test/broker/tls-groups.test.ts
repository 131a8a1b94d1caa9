import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { after, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';

// TRUSTGATE_TLS_GROUPS sets the broker's key-exchange groups (decision 0012): unset, Node's default
// list (the post-quantum hybrid X25519MLKEM768 first) is what a default client negotiates; set,
// the broker agrees only to the groups it names (which of them, TLS 1.3 lets the client's key share decide).

/** The group a client that offers `groups` (undefined = Node's default list) negotiates with the broker. */
const negotiatedGroup = async (server: TestServer, groups?: string): Promise<string | undefined> => {
  const socket: TLSSocket = connect({
    host: '127.0.0.1', port: server.mqttPort, servername: 'localhost', ca: server.brokerRootCaPem, ...(groups === undefined ? {} : { ecdhCurve: groups }),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
      setTimeout(() => reject(new Error('no TLS handshake within 10 s')), 10_000).unref();
    });
    return (socket.getEphemeralKeyInfo() as { name?: string }).name;
  } finally {
    socket.destroy();
  }
};

describe('broker TLS key-exchange groups (TRUSTGATE_TLS_GROUPS)', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });

  it('unset: a default client negotiates the post-quantum hybrid X25519MLKEM768', async () => {
    const server = await startTestServer();
    servers.push(server);
    assert.equal(await negotiatedGroup(server), 'X25519MLKEM768');
    // Positive control for the next case: this broker agrees to X25519 when the client offers only it.
    assert.equal(await negotiatedGroup(server, 'X25519'), 'X25519');
  });

  it('X25519: a default client (hybrid first) gets X25519; one offering only P-256 fails the handshake', async () => {
    const server = await startTestServer({ TRUSTGATE_TLS_GROUPS: 'X25519' });
    servers.push(server);
    assert.equal(await negotiatedGroup(server), 'X25519');
    await assert.rejects(negotiatedGroup(server, 'P-256'), /handshake failure|alert|ECONNRESET|socket hang up/i);
  });

  it('P-256: a default client (which sends an X25519MLKEM768 key share) is asked again and gets P-256', async () => {
    const server = await startTestServer({ TRUSTGATE_TLS_GROUPS: 'P-256' });
    servers.push(server);
    assert.equal(await negotiatedGroup(server), 'prime256v1');
  });
});
