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

  // Issue 13, item 3: an agent's record switched issuing CA and fingerprint without a word.
  describe('an agent whose certificate differs from what its record held', () => {
    const admitWith = async (certificateChange: unknown) => {
      const lines: Record<string, unknown>[] = [];
      const authenticate = createAuthenticate({
        registry: {
          admitAgent: async () => ({
            agent: { id: 'agent-1', clientId: 'acme_pump-1', caCertificateId: 'ca-b', certificateFingerprintSha256: 'f'.repeat(64) }, tenant: 'acme',
            certificateSerialNumber: '1f', validUntil: { at: new Date(Date.now() + 60_000), code: 'mqtt.certificateExpired' }, certificateChange,
          }),
        } as unknown as Registry,
        tokens: { verify: () => Promise.reject(new Error('no token expected')) },
        logger: pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } }),
        metrics: createBrokerMetrics(new MetricsRegistry()),
        hasGeneratedClientId: () => false,
        nodeId: 'n1',
      }, new SessionRegistry());
      const { answered, done } = answerOf();
      authenticate(fakeClient('acme_pump-1', { raw: Buffer.alloc(1) }), undefined, undefined, done);
      const { success } = await answered.promise;
      assert.equal(success, true);
      return lines;
    };

    it('is logged at info with the client id and the old and new CA and fingerprint', async () => {
      const lines = await admitWith({ previousCaCertificateId: 'ca-a', previousFingerprintSha256: 'e'.repeat(64) });
      const line = lines.find((l) => /another CA than its record held/.test(String(l.msg)));
      assert.ok(line, `no line about the switch: ${JSON.stringify(lines)}`);
      assert.equal(line.level, 30, 'info');
      assert.deepEqual(
        [line.clientId, line.tenant, line.agentId, line.previousCaCertificateId, line.caCertificateId, line.previousFingerprint, line.fingerprint],
        ['acme_pump-1', 'acme', 'agent-1', 'ca-a', 'ca-b', 'e'.repeat(64), 'f'.repeat(64)],
      );
      const sameCa = await admitWith({ previousCaCertificateId: 'ca-b', previousFingerprintSha256: 'e'.repeat(64) });
      assert.ok(sameCa.some((l) => /another certificate than its record held/.test(String(l.msg))), JSON.stringify(sameCa));
    });

    it('is not logged when nothing changed (the admission succeeded: the positive control, asserted in admitWith)', async () => {
      const lines = await admitWith(undefined);
      assert.equal(lines.filter((l) => /record held/.test(String(l.msg))).length, 0, JSON.stringify(lines));
    });
  });
});
