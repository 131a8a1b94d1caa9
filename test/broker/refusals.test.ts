import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/test-pki.ts';
import { newTenant, uploadCaOk } from '../support/api-helpers.ts';
import {
  agentCertificate, agentsOf, ClientPool, closedWithin, connectOk, connectRefused, refusalCounts, verifiedCa, type AgentIdentity,
} from '../support/broker-refusal-helpers.ts';
import { waitUntil } from '../support/wait-until.ts';

// Every refusal is logged and counted with a reason and answered with the
// fitting CONNACK code: 2 when the client id is not <tenant>_<CN>, 4 for a bad token, 5 for every
// certificate or agent problem. Each case below asserts the CONNACK code, that exactly one
// refusal was counted under exactly its reason (and no other reason moved), and that no agent
// record was created or changed.

const CLIENT_ID_PROBLEM = 2;
const BAD_TOKEN = 4;
const NOT_AUTHORIZED = 5;

describe('broker refusals', () => {
  let server: TestServer;
  const pool = new ClientPool();
  const tenant = newTenant('rf');
  const otherTenant = newTenant('ot');
  const deletedTenant = newTenant('dl');
  let verified: { ca: TestCertificate; id: string };
  let unverifiedCa: TestCertificate;
  let deletedCa: TestCertificate;

  before(async () => {
    server = await startTestServer();
    verified = await verifiedCa(server, tenant, 'CN=Refusals Verified CA');
    unverifiedCa = await createCa({ subject: 'CN=Refusals Unverified CA' });
    await uploadCaOk(server, tenant, unverifiedCa, 'unverified');
    // The other tenant has its own verified CA, so "othertenant_<CN>" names a real tenant.
    await verifiedCa(server, otherTenant, 'CN=Other Tenant CA');
    const deleted = await verifiedCa(server, deletedTenant, 'CN=Deleted CA');
    deletedCa = deleted.ca;
    const answer = await server.api(deletedTenant, `/caCertificates/${deleted.id}`, { method: 'DELETE' });
    assert.equal(answer.status, 204);
  });
  after(async () => {
    await pool.closeAll();
    await server?.close();
  });

  interface RefusalCase {
    readonly clientId: string;
    readonly credentials: { agent?: AgentIdentity; username?: string; password?: string };
    readonly connack: number;
    readonly reason: string;
  }

  const assertRefused = async ({ clientId, credentials, connack, reason }: RefusalCase): Promise<void> => {
    const tenants = [tenant, otherTenant, deletedTenant];
    const agentsBefore = await Promise.all(tenants.map((t) => agentsOf(server, t)));
    const countsBefore = await refusalCounts(server);
    assert.ok(countsBefore.has(reason), `the refusal counter has a series for ${reason}`);

    const code = await connectRefused(server, clientId, credentials);

    const countsAfter = await refusalCounts(server);
    assert.equal(code, connack, `CONNACK return code for ${reason}`);
    const moved = [...countsAfter].filter(([r, n]) => n !== (countsBefore.get(r) ?? 0)).map(([r, n]) => `${r}: +${n - (countsBefore.get(r) ?? 0)}`);
    assert.deepEqual(moved, [`${reason}: +1`], 'exactly one refusal, counted under its reason');
    assert.deepEqual(await Promise.all(tenants.map((t) => agentsOf(server, t))), agentsBefore, 'no agent record created or changed');
  };

  describe('certificate problems: CONNACK 5', () => {
    test('a CA that was never uploaded', async () => {
      const stranger = await createCa({ subject: 'CN=Never Uploaded CA' });
      const cert = await agentCertificate(stranger, 'unknown-1');
      await assertRefused({ clientId: `${tenant}_unknown-1`, credentials: { agent: cert }, connack: NOT_AUTHORIZED, reason: 'mqtt.unknownCa' });
    });

    test('a CA uploaded but not verified', async () => {
      const cert = await agentCertificate(unverifiedCa, 'unverified-1');
      await assertRefused({ clientId: `${tenant}_unverified-1`, credentials: { agent: cert }, connack: NOT_AUTHORIZED, reason: 'mqtt.caNotVerified' });
    });

    test('a CA that was verified and then deleted', async () => {
      const cert = await agentCertificate(deletedCa, 'deleted-1');
      await assertRefused({ clientId: `${deletedTenant}_deleted-1`, credentials: { agent: cert }, connack: NOT_AUTHORIZED, reason: 'mqtt.unknownCa' });
    });

    test('a certificate issued by an intermediate that the verified CA signed (leaf + intermediate sent)', async () => {
      const intermediate = await issueCertificate(verified.ca, {
        subject: 'CN=Refusals Intermediate CA', basicConstraints: { ca: true, critical: true }, keyUsage: ['keyCertSign', 'cRLSign'],
      });
      const leaf = await agentCertificate(intermediate, 'via-intermediate');
      await assertRefused({
        clientId: `${tenant}_via-intermediate`,
        credentials: { agent: { certificatePem: leaf.certificatePem + intermediate.certificatePem, privateKeyPem: leaf.privateKeyPem } },
        connack: NOT_AUTHORIZED,
        reason: 'mqtt.unknownCa',
      });
    });

    test('an expired agent certificate', async () => {
      const day = 86_400_000;
      const cert = await agentCertificate(verified.ca, 'expired-1', { notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day) });
      await assertRefused({ clientId: `${tenant}_expired-1`, credentials: { agent: cert }, connack: NOT_AUTHORIZED, reason: 'mqtt.certificateExpired' });
    });

    test('a not-yet-valid agent certificate (notBefore a day ahead, beyond the clock skew)', async () => {
      const day = 86_400_000;
      const cert = await agentCertificate(verified.ca, 'future-1', { notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 10 * day) });
      await assertRefused({ clientId: `${tenant}_future-1`, credentials: { agent: cert }, connack: NOT_AUTHORIZED, reason: 'mqtt.certificateNotYetValid' });
    });

    test('a CA:TRUE certificate issued by the verified CA', async () => {
      const cert = await agentCertificate(verified.ca, 'ca-true-1', { basicConstraints: { ca: true, critical: true }, keyUsage: ['keyCertSign'] });
      await assertRefused({ clientId: `${tenant}_ca-true-1`, credentials: { agent: cert }, connack: NOT_AUTHORIZED, reason: 'mqtt.certificateIsCa' });
    });

    test('the verified CA certificate itself presented as an agent certificate', async () => {
      await assertRefused({
        clientId: `${tenant}_Refusals Verified CA`, credentials: { agent: verified.ca }, connack: NOT_AUTHORIZED, reason: 'mqtt.certificateIsCa',
      });
    });

    test('an agent certificate whose extendedKeyUsage is serverAuth only', async () => {
      const cert = await agentCertificate(verified.ca, 'server-only-1', { extendedKeyUsage: 'serverAuth' });
      await assertRefused({ clientId: `${tenant}_server-only-1`, credentials: { agent: cert }, connack: NOT_AUTHORIZED, reason: 'mqtt.clientAuthNotAllowed' });
    });
  });

  describe('client id problems: CONNACK 2', () => {
    test('a client id that is not <tenant>_<CN>', async () => {
      const cert = await agentCertificate(verified.ca, 'cid-1');
      await assertRefused({ clientId: `${tenant}_cid-2`, credentials: { agent: cert }, connack: CLIENT_ID_PROBLEM, reason: 'mqtt.clientIdMismatch' });
      await assertRefused({ clientId: 'cid-1', credentials: { agent: cert }, connack: CLIENT_ID_PROBLEM, reason: 'mqtt.clientIdMismatch' });
    });

    test('a client id claiming another tenant (othertenant_<CN>)', async () => {
      const cert = await agentCertificate(verified.ca, 'cid-3');
      await assertRefused({ clientId: `${otherTenant}_cid-3`, credentials: { agent: cert }, connack: CLIENT_ID_PROBLEM, reason: 'mqtt.clientIdMismatch' });
    });

    test('a tenant application whose client id lacks the <tenant>_ prefix', async () => {
      await assertRefused({
        clientId: `${otherTenant}_app`, credentials: { username: tenant, password: await server.token(tenant) },
        connack: CLIENT_ID_PROBLEM, reason: 'mqtt.applicationClientIdInvalid',
      });
    });

    test('a tenant application using a connected agent\'s client id is refused and does not take the agent\'s session over', async () => {
      const cert = await agentCertificate(verified.ca, 'victim-1');
      const clientId = `${tenant}_victim-1`;
      const agent = await connectOk(server, pool, clientId, { agent: cert });
      await assertRefused({
        clientId, credentials: { username: tenant, password: await server.token(tenant) },
        connack: CLIENT_ID_PROBLEM, reason: 'mqtt.applicationClientIdInvalid',
      });
      assert.equal(agent.connected, true, 'the agent keeps its session');
      const granted = await agent.subscribeAsync(`tc/${tenant}/${clientId}/i/#`);
      assert.equal(granted[0]?.qos, 0);
    });
  });

  describe('agent problems: CONNACK 5', () => {
    test('a disabled agent (PATCH enabled false, then reconnect)', async () => {
      const cert = await agentCertificate(verified.ca, 'disabled-1');
      const clientId = `${tenant}_disabled-1`;
      const client = await connectOk(server, pool, clientId, { agent: cert });
      const agent = (await agentsOf(server, tenant)).find((a) => a.clientId === clientId);
      assert.ok(agent, 'the agent was onboarded');
      const closed = closedWithin(client, 2000, clientId);
      const start = performance.now();
      const patched = await server.api(tenant, `/agents/${agent.id}`, { method: 'PATCH', body: { enabled: false } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      await closed.elapsedSince(start);
      // Let the broker record the disconnection before the "unchanged" snapshot is taken.
      await waitUntil(async () => !(await server.api(tenant, `/agents/${agent.id}`)).body.online, 5_000, `${clientId} is recorded offline`);
      await assertRefused({ clientId, credentials: { agent: cert }, connack: NOT_AUTHORIZED, reason: 'mqtt.agentDisabled' });
      const after = (await server.api(tenant, `/agents/${agent.id}`)).body;
      assert.equal(after.enabled, false);
      assert.equal(after.online, false);
    });
  });

  describe('tenant application problems', () => {
    test('no certificate and no token: CONNACK 5', async () => {
      await assertRefused({ clientId: `${tenant}_nothing`, credentials: {}, connack: NOT_AUTHORIZED, reason: 'mqtt.credentialsMissing' });
    });

    test('a user name but no password: CONNACK 5, credentials missing', async () => {
      await assertRefused({ clientId: `${tenant}_nopass`, credentials: { username: tenant }, connack: NOT_AUTHORIZED, reason: 'mqtt.credentialsMissing' });
    });

    test('a malformed token: CONNACK 4', async () => {
      await assertRefused({ clientId: `${tenant}_app-bad`, credentials: { username: tenant, password: 'not-a-jwt' }, connack: BAD_TOKEN, reason: 'auth.tokenInvalid' });
    });

    test('a token signed by another key (tampered payload): CONNACK 4', async () => {
      const [header, , signature] = (await server.token(tenant)).split('.');
      const payload = Buffer.from(JSON.stringify({ ten: tenant, scope: 'mcmqtt.admin', exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
      await assertRefused({ clientId: `${tenant}_app-forged`, credentials: { username: tenant, password: `${header}.${payload}.${signature}` }, connack: BAD_TOKEN, reason: 'auth.tokenInvalid' });
    });

    test('an expired token: CONNACK 4', async () => {
      const expired = await server.token(tenant, { ttlSeconds: -60 });
      await assertRefused({ clientId: `${tenant}_app-old`, credentials: { username: tenant, password: expired }, connack: BAD_TOKEN, reason: 'auth.tokenExpired' });
    });

    test('a token without an mcmqtt scope: CONNACK 5 (valid token, not authorized; HTTP answers 403)', async () => {
      const token = await server.token(tenant, { scopes: ['openid'] });
      await assertRefused({ clientId: `${tenant}_app-noscope`, credentials: { username: tenant, password: token }, connack: NOT_AUTHORIZED, reason: 'auth.scopeMissing' });
    });

    test('a token of another tenant (user name names tenant A, token of tenant B): CONNACK 4 (bad user name or password)', async () => {
      // CONNACK 4 "bad user name or password" for a bad token. The user name and the token
      // contradict each other: the credentials as a pair are bad.
      const token = await server.token(otherTenant);
      await assertRefused({ clientId: `${tenant}_app-foreign`, credentials: { username: tenant, password: token }, connack: BAD_TOKEN, reason: 'mqtt.tenantMismatch' });
    });
  });

  test('after all refusals a good agent and a good application still get in', async () => {
    const cert = await agentCertificate(verified.ca, 'good-1');
    const before = (await agentsOf(server, tenant)).length;
    await connectOk(server, pool, `${tenant}_good-1`, { agent: cert });
    await connectOk(server, pool, `${tenant}_app-good`, { username: tenant, password: await server.token(tenant) });
    assert.equal((await agentsOf(server, tenant)).length, before + 1);
  });
});
