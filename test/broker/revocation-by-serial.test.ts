import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import {
  agentCertificate, assertStillConnected, ClientPool, closedWithin, connectOk, connectRefused, refusalCount, verifiedCa,
} from '../support/broker-refusal-helpers.ts';
import { opensslCrl } from '../support/openssl-crl.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';

// Issue 15 parts 1 and 2 on a live broker: a revocation by issuer + serial number (POST) or a CRL
// made by the real `openssl ca -gencrl` (PUT) closes the revoked agent's session within a second,
// and its reconnects are refused with CONNACK 5 (mqtt.certificateRevoked); agents not listed stay.

const ONE_SECOND_MS = 1_000;
const NOT_AUTHORIZED = 5;

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

describe('revocation by serial number and CRL on the broker', () => {
  let server: TestServer;
  const pool = new ClientPool();

  before(async () => { server = await startTestServer(); });
  after(async () => {
    await pool.closeAll();
    await server?.close();
  });

  test('POST revokedCertificates: the live session closes within 1 s, reconnects get CONNACK 5 (certificateRevoked); the other agent stays; a released hold lets it back in', async (t) => {
    const tenant = newTenant('rs');
    const { ca, id } = await verifiedCa(server, tenant);
    const revoked = await agentCertificate(ca, 'pump-1', { serialNumber: '00a1b2c3d4' });
    const kept = await agentCertificate(ca, 'pump-2', { serialNumber: '00a1b2c3d5' });
    const revokedClient = await connectOk(server, pool, `${tenant}_pump-1`, { agent: revoked });
    const keptClient = await connectOk(server, pool, `${tenant}_pump-2`, { agent: kept });
    const closing = closedWithin(revokedClient, 5_000, 'the revoked agent');
    const refusedBefore = await refusalCount(server, 'mqtt.certificateRevoked');

    // As `openssl x509 -text` prints it: colons, uppercase, a leading zero octet.
    const spelled = serialOf(revoked.certificatePem).match(/../g)!.join(':');
    const started = performance.now();
    const answer = await server.api(tenant, `/caCertificates/${id}/revokedCertificates`, { body: { serialNumber: `00:${spelled}`, reason: 'certificateHold' } });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    const elapsed = await closing.elapsedSince(started);
    t.diagnostic(`revoked session closed ${elapsed.toFixed(1)} ms after the POST was sent`);
    assert.ok(elapsed <= ONE_SECOND_MS, `closed after ${elapsed.toFixed(0)} ms`);
    await assertStillConnected(keptClient, `tc/${tenant}/${tenant}_pump-2/i/#`);
    assert.equal(await connectRefused(server, `${tenant}_pump-1`, { agent: revoked }), NOT_AUTHORIZED);
    assert.ok(await refusalCount(server, 'mqtt.certificateRevoked') > refusedBefore, 'counted as mqtt.certificateRevoked');

    const released = await server.api(tenant, `/caCertificates/${id}/revokedCertificates/${serialOf(revoked.certificatePem)}`, { method: 'DELETE' });
    assert.equal(released.status, 204);
    const back = await connectOk(server, pool, `${tenant}_pump-1`, { agent: revoked });
    await assertStillConnected(back, `tc/${tenant}/${tenant}_pump-1/i/#`);
  });

  test('PUT crl (openssl ca -gencrl): the listed agent is closed within 1 s and refused; the others stay; a later CRL without it lets it back', async (t) => {
    const tenant = newTenant('rc');
    const { ca, id } = await verifiedCa(server, tenant);
    const listed = await agentCertificate(ca, 'valve-1');
    const others = await Promise.all(['valve-2', 'valve-3'].map((cn) => agentCertificate(ca, cn)));
    const listedClient = await connectOk(server, pool, `${tenant}_valve-1`, { agent: listed });
    const otherClients = await Promise.all(others.map((cert, i) => connectOk(server, pool, `${tenant}_valve-${i + 2}`, { agent: cert })));
    const closing = closedWithin(listedClient, 5_000, 'the agent listed in the CRL');
    // 500 other serials beside it, as a real CRL would list.
    const filler = Array.from({ length: 500 }, (_, i) => ({ serial: (0x7000_0000 + i).toString(16) }));
    const crl = await opensslCrl({
      caCertificatePem: ca.certificatePem, caPrivateKeyPem: ca.privateKeyPem, crlNumber: 1,
      revoked: [...filler, { serial: serialOf(listed.certificatePem), reason: 'keyCompromise' }],
    });
    const started = performance.now();
    const answer = await server.api(tenant, `/caCertificates/${id}/crl`, { method: 'PUT', body: { crl } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const elapsed = await closing.elapsedSince(started);
    t.diagnostic(`CRL-listed session closed ${elapsed.toFixed(1)} ms after the PUT was sent`);
    assert.ok(elapsed <= ONE_SECOND_MS, `closed after ${elapsed.toFixed(0)} ms`);
    for (const [i, client] of otherClients.entries()) await assertStillConnected(client, `tc/${tenant}/${tenant}_valve-${i + 2}/i/#`);
    assert.equal(await connectRefused(server, `${tenant}_valve-1`, { agent: listed }), NOT_AUTHORIZED);

    const next = await opensslCrl({ caCertificatePem: ca.certificatePem, caPrivateKeyPem: ca.privateKeyPem, crlNumber: 2, revoked: filler });
    assert.equal((await server.api(tenant, `/caCertificates/${id}/crl`, { method: 'PUT', body: { crl: next } })).status, 200);
    await connectOk(server, pool, `${tenant}_valve-1`, { agent: listed });
  });

  test('attack: a tenant revoking, under its own CA, the serial of another tenant\'s agent closes nothing and refuses nothing', async () => {
    const victim = newTenant('rv');
    const attacker = newTenant('ra');
    // Same subject name and the same serial number: only the issuer's key and tenant differ.
    const victimCa = await verifiedCa(server, victim, 'CN=Shared Name CA');
    const attackerCa = await verifiedCa(server, attacker, 'CN=Shared Name CA');
    const victimAgent = await agentCertificate(victimCa.ca, 'meter-1', { serialNumber: '0badc0de' });
    const attackerAgent = await agentCertificate(attackerCa.ca, 'meter-1', { serialNumber: '0badc0de' });
    const victimClient = await connectOk(server, pool, `${victim}_meter-1`, { agent: victimAgent });
    const attackerClient = await connectOk(server, pool, `${attacker}_meter-1`, { agent: attackerAgent });
    // Positive control: the attacker's own agent with that serial is closed, so the revocation was applied.
    const attackerClosed = closedWithin(attackerClient, 5_000, 'the attacker\'s own agent');
    const started = performance.now();
    assert.equal((await server.api(attacker, `/caCertificates/${attackerCa.id}/revokedCertificates`, { body: { serialNumber: 'BADC0DE' } })).status, 201);
    // Revoking under the victim's CA id: 404, as if it did not exist.
    assert.equal((await server.api(attacker, `/caCertificates/${victimCa.id}/revokedCertificates`, { body: { serialNumber: 'BADC0DE' } })).status, 404);
    await attackerClosed.elapsedSince(started);
    await assertStillConnected(victimClient, `tc/${victim}/${victim}_meter-1/i/#`);
    await pool.closeAll();
    const again = await connectOk(server, pool, `${victim}_meter-1`, { agent: victimAgent });
    await assertStillConnected(again, `tc/${victim}/${victim}_meter-1/i/#`);
  });
});

describe('revocations are enforced after a restart', () => {
  test('a serial revoked and a CRL imported before the restart are refused after it', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dataDir = await mkdtemp(join(tmpdir(), 'trustgate-revocation-restart-'));
    const pool = new ClientPool();
    let server = await startTestServer({ TRUSTGATE_DATA_DIR: dataDir });
    try {
      const tenant = newTenant('rr');
      const { ca, id } = await verifiedCa(server, tenant);
      const [bySerial, byCrl, good] = await Promise.all(['a-1', 'a-2', 'a-3'].map((cn) => agentCertificate(ca, cn)));
      assert.equal((await server.api(tenant, `/caCertificates/${id}/revokedCertificates`, { body: { serialNumber: serialOf(bySerial!.certificatePem) } })).status, 201);
      const crl = await opensslCrl({ caCertificatePem: ca.certificatePem, caPrivateKeyPem: ca.privateKeyPem, crlNumber: 1, revoked: [{ serial: serialOf(byCrl!.certificatePem) }] });
      assert.equal((await server.api(tenant, `/caCertificates/${id}/crl`, { method: 'PUT', body: { crl } })).status, 200);
      await server.close();
      server = await startTestServer({ TRUSTGATE_DATA_DIR: dataDir });
      assert.equal(await connectRefused(server, `${tenant}_a-1`, { agent: bySerial! }), NOT_AUTHORIZED);
      assert.equal(await connectRefused(server, `${tenant}_a-2`, { agent: byCrl! }), NOT_AUTHORIZED);
      await connectOk(server, pool, `${tenant}_a-3`, { agent: good! });
    } finally {
      await pool.closeAll();
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
