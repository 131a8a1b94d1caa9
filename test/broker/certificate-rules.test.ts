import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import mqtt, { type IClientOptions } from 'mqtt';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { createCa, sharedTestKeyPair, type TestCertificate } from '../support/test-pki.ts';
import { addExtension, reissue } from '../support/hostile-certificate.ts';
import { decodeDer, encodeDer } from '../support/der-tree.ts';
import { newTenant, proofFor, registrationCodeOf, uploadCaOk, verify } from '../support/api-helpers.ts';
import { agentCertificate, agentsOf, ClientPool, CONNECT_TIMEOUT_MS, connectOk, refusalCount, withTimeout } from '../support/broker-refusal-helpers.ts';

// Issue 10, findings 6, 9, 10 and 11 at the broker, with a real MQTT client over mutual TLS, on
// each dialect: weak, malformed and hostile agent certificates got CONNACK 0 (or, for the CN of
// 40 U+FFFF on PostgreSQL, failed the onboarding write). Each refusal: CONNACK 5, counted under
// its reason, no agent onboarded, and the doctor (POST /agents/doctor) says the same as the
// broker, at the same step.

const NOT_AUTHORIZED = 5;

/** CONNACK code of a refused connect; the client offers any key size (SECLEVEL=0), so the
 *  server's rules, not the client's TLS library, decide about an RSA-1024 agent. */
const connackOf = async (server: TestServer, clientId: string, agent: TestCertificate): Promise<number | undefined> => {
  const options: IClientOptions & { ciphers: string } = {
    clientId, ca: server.brokerRootCaPem, cert: agent.certificatePem, key: agent.privateKeyPem, ciphers: 'DEFAULT@SECLEVEL=0',
    reconnectPeriod: 0, connectTimeout: CONNECT_TIMEOUT_MS, protocolVersion: 4, clean: true,
  };
  const client = mqtt.connect(`mqtts://localhost:${server.mqttPort}`, options);
  client.on('error', () => undefined);
  try {
    return await withTimeout(new Promise<number | undefined>((resolve) => {
      client.once('connect', () => resolve(0));
      client.once('error', (error) => resolve((error as Error & { code?: unknown }).code as number | undefined));
      client.once('close', () => resolve(undefined));
    }), CONNECT_TIMEOUT_MS + 1000, `CONNACK for ${clientId}`);
  } finally {
    await withTimeout(client.endAsync(true), 2000, 'client end').catch(() => undefined);
  }
};

/** Uploads `ca` to `tenant` and verifies it. */
const trust = async (server: TestServer, tenant: string, ca: TestCertificate): Promise<void> => {
  const { id } = await uploadCaOk(server, tenant, ca);
  const answer = await verify(server, tenant, id, (await proofFor(ca, await registrationCodeOf(server, tenant, id))).certificatePem);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
};

for (const dialect of testDialects) describeOn(dialect)(`broker: certificate rules at admission, as the doctor says [${dialect}]`, () => {
  let server: TestServer;
  const pool = new ClientPool();
  const tenant = newTenant('cr');
  let ca: TestCertificate;
  let rsaCa: TestCertificate;

  before(async () => {
    server = await startTestServer({}, { dialect });
    ca = await createCa({ subject: `CN=Certificate Rules CA ${dialect}` });
    rsaCa = await createCa({ subject: `CN=Certificate Rules RSA CA ${dialect}`, keyPair: await sharedTestKeyPair('rsa2048') });
    await trust(server, tenant, ca);
    await trust(server, tenant, rsaCa);
  });
  after(async () => {
    await pool.closeAll();
    await server?.close();
  });

  const cases: { name: string; cn: string; make: (cn: string) => Promise<TestCertificate>; reason: string; step: string }[] = [
    { name: 'weak agent: an RSA-1024 key', cn: 'weak-rsa', make: async (cn) => agentCertificate(ca, cn, { keyPair: await sharedTestKeyPair('rsa1024') }), reason: 'mqtt.certificateWeakKey', step: 'keyStrength' },
    { name: 'weak agent: an MD5 signature', cn: 'weak-md5', make: async (cn) => reissue(await agentCertificate(rsaCa, cn), { signer: rsaCa, hash: 'MD5' }), reason: 'mqtt.certificateWeakSignature', step: 'signatureStrength' },
    { name: 'weak agent: a SHA-1 signature', cn: 'weak-sha1', make: (cn) => agentCertificate(ca, cn, { hash: 'SHA-1' }), reason: 'mqtt.certificateWeakSignature', step: 'signatureStrength' },
    { name: 'weak agent: a SHA-224 signature', cn: 'weak-sha224', make: async (cn) => reissue(await agentCertificate(ca, cn), { signer: ca, hash: 'SHA-224' }), reason: 'mqtt.certificateWeakSignature', step: 'signatureStrength' },
    {
      name: 'duplicate extensions (the doctor said "accepted")', cn: 'dup-ext', reason: 'certificate.duplicateExtension', step: 'structure',
      make: async (cn) => reissue(await agentCertificate(ca, cn), { signer: ca, tbs: (t) => { addExtension(t, '1.2.3.4', false, Buffer.from([5, 0])); addExtension(t, '1.2.3.4', false, Buffer.from([5, 0])); } }),
    },
    { name: 'an unknown critical extension', cn: 'unknown-critical', make: async (cn) => reissue(await agentCertificate(ca, cn), { signer: ca, tbs: (t) => addExtension(t, '1.2.3.4', true, Buffer.from([5, 0])) }), reason: 'certificate.unknownCriticalExtension', step: 'structure' },
    {
      name: 'a second encoding: the ECDSA signature\'s r with a long-form length (outside the signed part)', cn: 'second-encoding', reason: 'certificate.notDer', step: 'structure',
      make: async (cn) => reissue(await agentCertificate(ca, cn), {
        signer: ca,
        outerTree: (t) => {
          const bitString = t.children![2]!;
          const signature = decodeDer(bitString.content!.subarray(1));
          signature.children![0]!.longLengthOctets = 1;
          bitString.content = Buffer.concat([Buffer.from([0]), encodeDer(signature)]);
        },
      }),
    },
    { name: 'a long-form length inside the signed part', cn: 'long-inside', make: async (cn) => reissue(await agentCertificate(ca, cn), { signer: ca, tbsTree: (t) => { t.children![5]!.longLengthOctets = 2; } }), reason: 'certificate.notDer', step: 'structure' },
    { name: 'a negative serial number', cn: 'negative-serial', make: async (cn) => reissue(await agentCertificate(ca, cn), { signer: ca, tbs: (t) => { t.serialNumber = new Uint8Array([0x9c, 0x01]).buffer; } }), reason: 'certificate.serialNumberInvalid', step: 'structure' },
    { name: 'keyCertSign without basicConstraints', cn: 'key-cert-sign', make: (cn) => agentCertificate(ca, cn, { keyUsage: ['digitalSignature', 'keyCertSign'] }), reason: 'certificate.keyCertSignWithoutCa', step: 'structure' },
    { name: 'a CN of 40 U+FFFF (80 characters once escaped for PostgreSQL)', cn: '\uFFFF'.repeat(40), make: (cn) => agentCertificate(ca, cn), reason: 'mqtt.commonNameInvalid', step: 'commonName' },
  ];

  for (const { name, cn, make, reason, step } of cases) {
    test(`refused with CONNACK 5 and the doctor agrees: ${name}`, async () => {
      const agent = await make(cn);
      const clientId = `${tenant}_${cn}`;
      const countBefore = await refusalCount(server, reason);
      assert.equal(await connackOf(server, clientId, agent), NOT_AUTHORIZED);
      assert.equal(await refusalCount(server, reason), countBefore + 1, `one refusal counted as ${reason}`);
      assert.deepEqual((await agentsOf(server, tenant)).filter((a) => a.clientId === clientId), [], 'not onboarded');

      const answer = await server.api(tenant, '/agents/doctor', { body: { agentCertificate: agent.certificatePem, clientId } });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.wouldBeAccepted, false, JSON.stringify(answer.body));
      const failed = answer.body.steps.filter((s: { status: string }) => s.status === 'failed');
      assert.deepEqual(failed.map((s: { check: string }) => s.check), [step], JSON.stringify(answer.body.steps));
    });
  }

  test('finding 9: an agent of a CA whose notBefore is 2 minutes ahead (uploaded and verified within the skew) connects', async () => {
    const earlyTenant = newTenant('early');
    const early = await createCa({ subject: `CN=Early CA ${dialect}`, notBefore: new Date(Date.now() + 120_000) });
    await trust(server, earlyTenant, early);
    const agent = await agentCertificate(early, 'early-1');
    const answer = await server.api(earlyTenant, '/agents/doctor', { body: { agentCertificate: agent.certificatePem, clientId: `${earlyTenant}_early-1` } });
    assert.equal(answer.body.wouldBeAccepted, true, JSON.stringify(answer.body));
    await connectOk(server, pool, `${earlyTenant}_early-1`, { agent });
  });

  test('a non-minimal outer length reaches the broker re-encoded by OpenSSL, as its DER original: admitted under the DER fingerprint, and the doctor says so', async () => {
    const twin = reissue(await agentCertificate(ca, 'outer-1'), { signer: ca, outerTree: (t) => { t.longLengthOctets = 3; } });
    const asOpenSslHandsItOver = new X509Certificate(twin.certificateDer).raw;
    assert.ok(asOpenSslHandsItOver.length < twin.certificateDer.length, 'OpenSSL writes the outer length minimally');
    const answer = await server.api(tenant, '/agents/doctor', { body: { agentCertificate: twin.certificatePem, clientId: `${tenant}_outer-1` } });
    assert.equal(answer.body.wouldBeAccepted, true, JSON.stringify(answer.body));
    await connectOk(server, pool, `${tenant}_outer-1`, { agent: twin });
    const [agent] = (await agentsOf(server, tenant)).filter((a) => a.clientId === `${tenant}_outer-1`);
    assert.equal(agent?.certificateFingerprint, createHash('sha256').update(asOpenSslHandsItOver).digest('hex'), 'the broker only ever sees the DER encoding');
  });

  test('a good agent certificate still connects (positive control)', async () => {
    await connectOk(server, pool, `${tenant}_good-1`, { agent: await agentCertificate(ca, 'good-1') });
  });
});
