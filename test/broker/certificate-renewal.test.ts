import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import {
  connectAgent, connectApplication, issueAgent, MessageLog, registerVerifiedCa, Resources, subackCodes, waitForAgent,
} from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { createCsr } from '../support/test-pki.ts';

// Issue 15 part 4: renewal over MQTT (SPEC "Renewal over MQTT"). A managed-CA agent publishes
// {"id","csr"} to o/cert_v1/csr and gets its new certificate (or a coded error) on i/cert_v1/cert;
// the new certificate connects as the same agent, the old one still does; bad requests and floods
// get specific codes and change nothing; the request itself reaches no subscriber.

const credentialsOf = (issued: any) => ({ certificatePem: issued.publicKey as string, privateKeyPem: issued.privateKey as string });

/** An agent subscribed to its answers: `ask` publishes a request and waits for the answer with its id. */
const renewalClient = async (agent: MqttClient, tenant: string, clientId: string) => {
  const answers = new MessageLog(agent);
  const replyTopic = `tc/${tenant}/${clientId}/i/cert_v1/cert`;
  assert.deepEqual(await subackCodes(agent, { [replyTopic]: { qos: 1 } }), [1]);
  let seen = 0;
  const nextAnswer = async (): Promise<any> => {
    const deadline = Date.now() + 10_000;
    while (answers.on(replyTopic).length <= seen) {
      if (Date.now() > deadline) throw new Error('no renewal answer within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return JSON.parse(answers.on(replyTopic)[seen++]!.payload.toString());
  };
  return {
    ask: async (payload: string | Record<string, unknown>): Promise<any> => {
      await agent.publishAsync(`tc/${tenant}/${clientId}/o/cert_v1/csr`, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
      return nextAnswer();
    },
    nextAnswer,
  };
};

describe('certificate renewal over MQTT', { timeout: 90_000 }, () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
    resources.add(() => server.close());
  });
  after(() => resources.closeAll());

  const issue = async (tenant: string, name: string): Promise<any> => {
    const answer = await server.api(tenant, '/agentCertificates', { body: { name, owner: 'ops' } });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return answer.body;
  };

  test('MQTT.js: a new key is certified; the new certificate connects as the same agent, the old one still connects; both are agent certificate records, the new one revocable', async () => {
    const tenant = newTenant('rn');
    const issued = await issue(tenant, 'pump-1');
    const app = resources.client(await connectApplication(server, tenant));
    const appLog = new MessageLog(app);
    assert.deepEqual(await subackCodes(app, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);

    const agent = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    const agentId = (await waitForAgent(server, tenant, issued.clientId, (a) => a.online === true)).id;
    const renewal = await renewalClient(agent, tenant, issued.clientId);
    const csr = await createCsr({ subject: 'CN=pump-1', keyType: 'p384' });
    const answer = await renewal.ask({ id: 'req-1', csr: csr.csrPem });
    assert.equal(answer.error, undefined, JSON.stringify(answer));
    assert.equal(answer.id, 'req-1');
    const certificate = new X509Certificate(answer.certificate);
    assert.equal(certificate.subject, 'CN=pump-1');
    assert.ok(certificate.verify(new X509Certificate(answer.chain).publicKey), 'the chain holds the managed CA that signed it');
    assert.equal(answer.notAfter, certificate.validToDate.toISOString());

    // The tenant's application saw the answer (it may read the agent's i/ topics) but never the request.
    await appLog.next(`tc/${tenant}/${issued.clientId}/i/cert_v1/cert`, 5_000);
    assert.deepEqual(appLog.on(`tc/${tenant}/${issued.clientId}/o/cert_v1/csr`), [], 'the request is consumed by the broker');

    await agent.endAsync();
    const renewedAgent = resources.client(await connectAgent(server, { certificatePem: answer.certificate, privateKeyPem: csr.privateKeyPem }, issued.clientId));
    const online = await waitForAgent(server, tenant, issued.clientId, (a) => a.online === true && a.certificateFingerprint !== issued.fingerprint);
    assert.equal(online.id, agentId, 'the same agent');
    await renewedAgent.endAsync();
    const old = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    await old.endAsync();

    const listed = (await server.api(tenant, '/agentCertificates')).body as any[];
    assert.deepEqual(listed.map((c) => [c.name, c.status, c.clientId]), [['pump-1', 'READY', issued.clientId], ['pump-1', 'READY', issued.clientId]]);
    const renewedRecord = listed.find((c) => c.id === answer.agentCertificateId);
    assert.equal(renewedRecord.publicKey, answer.certificate);
    assert.equal(renewedRecord.agentId, agentId);
    assert.equal(renewedRecord.owner, 'ops', 'the owner carries over');
    assert.equal((await server.api(tenant, `/agentCertificates/${answer.agentCertificateId}`, { method: 'DELETE' })).status, 204);
    await assert.rejects(connectAgent(server, { certificatePem: answer.certificate, privateKeyPem: csr.privateKeyPem }, issued.clientId));
    resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
  });

  test('bad requests get specific codes on i/cert_v1/cert, keep the connection and change nothing; a second renewal within the hour gets renewal.tooSoon with the retry time', async () => {
    const tenant = newTenant('rb');
    const issued = await issue(tenant, 'pump-2');
    const agent = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    const renewal = await renewalClient(agent, tenant, issued.clientId);
    const cases: [string | Record<string, unknown>, string, string | null][] = [
      ['{not json', 'renewal.requestInvalid', null],
      ['[1,2]', 'renewal.requestInvalid', null],
      [{ csr: 'x' }, 'renewal.requestInvalid', null],
      [{ id: 7, csr: 'x' }, 'renewal.requestInvalid', null],
      [{ id: 'r-nocsr' }, 'renewal.requestInvalid', 'r-nocsr'],
      [{ id: 'r-cn', csr: (await createCsr({ subject: 'CN=pump-3' })).csrPem }, 'renewal.commonNameMismatch', 'r-cn'],
      [{ id: 'r-cid', csr: (await createCsr({ subject: `CN=${issued.clientId}` })).csrPem }, 'renewal.commonNameMismatch', 'r-cid'],
      [{ id: 'r-weak', csr: (await createCsr({ subject: 'CN=pump-2', keyType: 'rsa1024' })).csrPem }, 'csr.weakKey', 'r-weak'],
      [{ id: 'r-garbage', csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----' }, 'csr.invalid', 'r-garbage'],
    ];
    for (const [payload, code, id] of cases) {
      const answer = await renewal.ask(payload);
      assert.equal(answer.error?.code, code, JSON.stringify({ payload, answer }));
      assert.equal(answer.id, id);
      assert.equal(typeof answer.error.message, 'string');
    }
    assert.equal(((await server.api(tenant, '/agentCertificates')).body as any[]).length, 1, 'nothing issued');

    const first = await renewal.ask({ id: 'ok-1', csr: (await createCsr({ subject: 'CN=pump-2' })).csrPem });
    assert.equal(first.error, undefined, JSON.stringify(first));
    const flood = await renewal.ask({ id: 'again', csr: (await createCsr({ subject: 'CN=pump-2' })).csrPem });
    assert.equal(flood.error.code, 'renewal.tooSoon');
    assert.ok(Date.parse(flood.error.retryAt) > Date.now() + 3_500_000, flood.error.retryAt);
    // A burst: every request answered, none issued; the connection stays.
    for (let i = 0; i < 10; i++) await agent.publishAsync(`tc/${tenant}/${issued.clientId}/o/cert_v1/csr`, JSON.stringify({ id: `b-${i}`, csr: 'x' }), { qos: 0 });
    const codes = new Set<string>();
    for (let i = 0; i < 10; i++) codes.add((await renewal.nextAnswer()).error.code);
    assert.ok([...codes].every((code) => code === 'renewal.tooSoon' || code === 'renewal.inProgress'), [...codes].join());
    assert.equal(((await server.api(tenant, '/agentCertificates')).body as any[]).length, 2, 'one renewal only');
    assert.equal(agent.connected, true);
    // The API shares the limit (429 with Retry-After).
    const viaApi = await server.api(tenant, `/agentCertificates/${issued.id}/renew`, { body: { csr: (await createCsr({ subject: 'CN=pump-2' })).csrPem } });
    assert.equal(viaApi.status, 429);
    assert.equal(viaApi.body.errors[0].code, 'renewal.tooSoon');
  });

  test('a request sent with the retain flag is answered but never retained (a retained message on o/data is the control)', async () => {
    const tenant = newTenant('rr');
    const issued = await issue(tenant, 'pump-4');
    const agent = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    const renewal = await renewalClient(agent, tenant, issued.clientId);
    await agent.publishAsync(`tc/${tenant}/${issued.clientId}/o/data`, 'retained control', { qos: 1, retain: true });
    await agent.publishAsync(`tc/${tenant}/${issued.clientId}/o/cert_v1/csr`, JSON.stringify({ id: 'ret-1', csr: 'x' }), { qos: 1, retain: true });
    assert.equal((await renewal.nextAnswer()).error.code, 'csr.invalid');

    const app = resources.client(await connectApplication(server, tenant));
    const appLog = new MessageLog(app);
    assert.deepEqual(await subackCodes(app, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    await appLog.next(`tc/${tenant}/${issued.clientId}/o/data`, 5_000, 'retained control');
    assert.deepEqual(appLog.under(`tc/${tenant}/${issued.clientId}/o/cert_v1`), []);
  });

  test('an agent of an uploaded CA gets renewal.notManagedCa; another agent cannot ask for it (its publish is refused)', async () => {
    const tenant = newTenant('ru');
    const { ca } = await registerVerifiedCa(server, tenant);
    const own = await issueAgent(ca, 'sensor-1');
    const clientId = `${tenant}_sensor-1`;
    const agent = resources.client(await connectAgent(server, own, clientId));
    const renewal = await renewalClient(agent, tenant, clientId);
    const answer = await renewal.ask({ id: 'u-1', csr: (await createCsr({ subject: 'CN=sensor-1' })).csrPem });
    assert.deepEqual([answer.id, answer.error?.code], ['u-1', 'renewal.notManagedCa']);

    // Publishing on another agent's request topic breaks the topic rules: the connection closes.
    const closed = new Promise<void>((resolve) => agent.once('close', () => resolve()));
    agent.publish(`tc/${tenant}/${tenant}_other/o/cert_v1/csr`, JSON.stringify({ id: 'x', csr: 'x' }), { qos: 1 });
    await closed;
  });
});
