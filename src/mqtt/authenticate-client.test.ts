import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'aedes';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import type { Registry } from '../registry/index.ts';
import type { TenantId } from '../shared/index.ts';
import { createAuthenticate } from './authenticate-client.ts';
import { createBrokerMetrics } from './broker-metrics.ts';
import { SessionRegistry } from './session-registry.ts';

// aedes calls `authenticate` and, if the client closed meanwhile, ignores its answer: it neither
// registers the client nor, when the connection ends, emits `clientDisconnect` (lib/client.js
// `close` unregisters only a registered client). Whatever `authenticate` attached for such a
// client is never detached: the session registry holds the closed Client for ever and its agent
// stays recorded online. A client that sends CONNECT and drops the connection at once, in a loop,
// grows the broker's memory without bound.

const deferred = <T>() => {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
};

const fakeClient = (id: string, peerCertificate?: object) =>
  ({ id, clean: true, closed: false, conn: { getPeerX509Certificate: () => peerCertificate } }) as unknown as Client & { closed: boolean };

const answerOf = () => {
  const answered = deferred<{ error: unknown; success: boolean | null }>();
  return { answered, done: (error: unknown, success: boolean | null) => answered.resolve({ error, success }) };
};

describe('authenticate', () => {
  it('a client that drops its connection while its token is verified is not attached (no ghost session)', async () => {
    const token = deferred<{ tenant: TenantId; scopes: string[]; subject: undefined; expiresAtMs: number }>();
    const sessions = new SessionRegistry();
    const authenticate = createAuthenticate({
      registry: { isAgentClientId: async () => false } as unknown as Registry,
      tokens: { verify: () => token.promise },
      logger: pino({ level: 'silent' }),
      metrics: createBrokerMetrics(new MetricsRegistry()),
      hasGeneratedClientId: () => false,
      nodeId: 'n1',
    }, sessions);
    const client = fakeClient('acme_app');
    const { answered, done } = answerOf();
    authenticate(client, 'acme', Buffer.from('token'), done);
    client.closed = true; // the socket ended: aedes' Client#close ran
    token.resolve({ tenant: 'acme' as TenantId, scopes: ['mcmqtt.admin'], subject: undefined, expiresAtMs: Date.now() + 60_000 });
    const { success } = await answered.promise;
    assert.notEqual(success, true);
    assert.equal(sessions.size, 0, 'nothing will ever detach a client aedes never registered');
  });

  it('an agent that drops its connection while it is admitted is recorded offline again', async () => {
    const admitted = deferred<unknown>();
    const disconnections: string[] = [];
    const sessions = new SessionRegistry();
    const authenticate = createAuthenticate({
      registry: {
        admitAgent: () => admitted.promise,
        recordAgentDisconnection: async (_tenant: TenantId, agentId: string, sessionId: string) => { disconnections.push(`${agentId} ${sessionId}`); },
      } as unknown as Registry,
      tokens: { verify: () => Promise.reject(new Error('no token expected')) },
      logger: pino({ level: 'silent' }),
      metrics: createBrokerMetrics(new MetricsRegistry()),
      hasGeneratedClientId: () => false,
      nodeId: 'n1',
    }, sessions);
    const client = fakeClient('acme_pump-1', { raw: Buffer.alloc(1) });
    const { answered, done } = answerOf();
    authenticate(client, undefined, undefined, done);
    client.closed = true;
    admitted.resolve({
      agent: { id: 'agent-1', clientId: 'acme_pump-1', caCertificateId: 'ca-1' }, tenant: 'acme',
      certificateSerialNumber: '1f', validUntil: { at: new Date(Date.now() + 60_000), code: 'mqtt.certificateExpired' },
    });
    const { success } = await answered.promise;
    assert.notEqual(success, true);
    assert.equal(sessions.size, 0);
    assert.equal(disconnections.length, 1, 'the admission recorded the agent online; it must be recorded offline');
    assert.match(disconnections[0]!, /^agent-1 n1\./);
  });
});
