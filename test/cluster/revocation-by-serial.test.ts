import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, issueAgent, refusalCodeOf, registerVerifiedCa, Resources } from '../support/broker-helpers.ts';
import { assertStillConnected } from '../support/broker-refusal-helpers.ts';
import { opensslCrl } from '../support/openssl-crl.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { describeNeeding } from '../support/test-services.ts';
import { withTimeout } from '../support/with-timeout.ts';

// Issue 15 parts 1 and 2 on two nodes: a revocation by serial number or a CRL imported through
// one node closes the revoked agent's session on the other node within a second, through the
// trust event outbox and the cluster bus like any other trust change. The trust change counter's
// poll is set far out of reach (10 minutes): it cannot be what closes the session.

const CONVERGENCE_MS = 600_000;
const ONE_SECOND_MS = 1_000;
const NOT_AUTHORIZED = 5;

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

describeNeeding('postgres', 'redis')('revocation by serial number across a cluster', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let through: ClusterNode;
  let other: ClusterNode;
  const resources = new Resources();

  before(async () => {
    cluster = await startCluster({ label: 'revocation', env: { TRUSTGATE_CLUSTER_CONVERGENCE_MS: String(CONVERGENCE_MS) }, nodes: [{ name: 'api' }, { name: 'broker' }] });
    through = cluster.node('api');
    other = cluster.node('broker');
  });
  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  const closedAfter = (client: ReturnType<typeof resources.client>, startedAt: () => number): Promise<number> =>
    withTimeout(new Promise<number>((resolve) => client.once('close', () => resolve(performance.now() - startedAt()))), 10_000, 'the revoked session to close');

  it('POST revokedCertificates through one node: the session on the other node closes within 1 s and is refused there; a released hold lets it back', async (t) => {
    const tenant = newTenant('crs');
    const { ca, id } = await registerVerifiedCa(other, tenant);
    const revoked = await issueAgent(ca, 'r-1');
    const kept = await issueAgent(ca, 'k-1');
    const revokedClient = resources.client(await connectAgent(other, revoked, `${tenant}_r-1`));
    const keptClient = resources.client(await connectAgent(other, kept, `${tenant}_k-1`));
    let started = 0;
    const closed = closedAfter(revokedClient, () => started);
    started = performance.now();
    const answer = await through.api(tenant, `/caCertificates/${id}/revokedCertificates`, { body: { serialNumber: serialOf(revoked.certificatePem).toLowerCase(), reason: 'certificateHold' } });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    const elapsed = await closed;
    t.diagnostic(`session on the other node closed ${elapsed.toFixed(1)} ms after the POST was sent`);
    assert.ok(elapsed <= ONE_SECOND_MS, `closed after ${elapsed.toFixed(0)} ms`);
    await assertStillConnected(keptClient, `tc/${tenant}/${tenant}_k-1/i/#`);
    assert.equal(await refusalCodeOf(connectAgent(other, revoked, `${tenant}_r-1`), resources), NOT_AUTHORIZED);

    const released = await through.api(tenant, `/caCertificates/${id}/revokedCertificates/${serialOf(revoked.certificatePem)}`, { method: 'DELETE' });
    assert.equal(released.status, 204);
    // The release reached the other node's index with its event: admitted there now.
    resources.client(await connectAgent(other, revoked, `${tenant}_r-1`));
  });

  it('PUT crl through one node: the listed agent\'s session on the other node closes within 1 s, the others stay', async (t) => {
    const tenant = newTenant('crc');
    const { ca, id } = await registerVerifiedCa(other, tenant);
    const listed = await issueAgent(ca, 'l-1');
    const kept = await issueAgent(ca, 'k-1');
    const listedClient = resources.client(await connectAgent(other, listed, `${tenant}_l-1`));
    const keptClient = resources.client(await connectAgent(other, kept, `${tenant}_k-1`));
    const crl = await opensslCrl({ caCertificatePem: ca.certificatePem, caPrivateKeyPem: ca.privateKeyPem, crlNumber: 7, revoked: [{ serial: serialOf(listed.certificatePem), reason: 'keyCompromise' }] });
    let started = 0;
    const closed = closedAfter(listedClient, () => started);
    started = performance.now();
    const answer = await through.api(tenant, `/caCertificates/${id}/crl`, { method: 'PUT', body: { crl } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const elapsed = await closed;
    t.diagnostic(`CRL-listed session on the other node closed ${elapsed.toFixed(1)} ms after the PUT was sent`);
    assert.ok(elapsed <= ONE_SECOND_MS, `closed after ${elapsed.toFixed(0)} ms`);
    await assertStillConnected(keptClient, `tc/${tenant}/${tenant}_k-1/i/#`);
    assert.equal(await refusalCodeOf(connectAgent(other, listed, `${tenant}_l-1`), resources), NOT_AUTHORIZED);
  });
});
