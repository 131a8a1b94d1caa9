import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, endClient, issueAgent, registerVerifiedCa, waitForAgent, type VerifiedCa } from '../support/broker-helpers.ts';
import { hasSample, sampleValue } from '../support/metrics-text.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { parseCertificatePem } from '../../src/pki/index.ts';

const DAY_MS = 86_400_000;

// Issue 15, part 3, "done when": an agent with a short-lived certificate (issued by the test PKI)
// shows in GET /agents?expiringBefore= and in the expiry gauges; an open /metrics names no tenant
// or CA, a token-protected one does, per tenant and CA.
for (const withToken of [false, true]) {
  describe(`an expiring agent in the filter and the gauges (TRUSTGATE_METRICS_TOKEN ${withToken ? 'set' : 'unset'})`, { timeout: 60_000 }, () => {
    const token = 'expiry-metrics-token-0123456789';
    let server: TestServer;
    const tenant = newTenant('exp');
    let ca: VerifiedCa;
    const scrape = async (): Promise<string> => {
      const response = await fetch(`${server.url}/metrics`, { headers: withToken ? { authorization: `Bearer ${token}` } : {} });
      assert.equal(response.status, 200);
      return response.text();
    };

    before(async () => {
      server = await startTestServer(withToken ? { TRUSTGATE_METRICS_TOKEN: token } : {});
      ca = await registerVerifiedCa(server, tenant, { notAfter: new Date(Date.now() + 20 * DAY_MS) });
    });
    after(async () => { await server?.close(); });

    it('a 3-day agent certificate is listed by expiringBefore=+7d and counted within 7d and 30d; a 60-day one in neither', async () => {
      const empty = await scrape();
      assert.equal(sampleValue(empty, 'trustgate_agent_certificates_expiring', { within: '7d' }), 0, 'no agent yet');
      const shortLived = await issueAgent(ca.ca, 'short', { notAfter: new Date(Date.now() + 3 * DAY_MS) });
      const longer = await issueAgent(ca.ca, 'longer', { notAfter: new Date(Date.now() + 60 * DAY_MS) });
      for (const [name, certificate] of [['short', shortLived], ['longer', longer]] as const) {
        await endClient(await connectAgent(server, certificate, `${tenant}_${name}`));
        await waitForAgent(server, tenant, `${tenant}_${name}`, (agent) => agent.certificate.notAfter !== null);
      }
      const listed = await server.api(tenant, `/agents?expiringBefore=${new Date(Date.now() + 7 * DAY_MS).toISOString()}`);
      assert.deepEqual(listed.body.map((agent: any) => agent.commonName), ['short']);
      assert.equal(listed.body[0].certificate.notAfter, parseCertificatePem(shortLived.certificatePem).notAfter.toISOString());

      const text = await scrape();
      assert.equal(sampleValue(text, 'trustgate_agent_certificates_expiring', { within: '7d' }), 1);
      assert.equal(sampleValue(text, 'trustgate_agent_certificates_expiring', { within: '30d' }), 1);
      const caNotAfter = parseCertificatePem(ca.ca.certificatePem).notAfter.getTime() / 1000;
      // The soonest CA over the whole node: this tenant's (20 days) or the broker's own managed CAs, if any expire sooner.
      assert.ok(sampleValue(text, 'trustgate_ca_certificate_soonest_expiry_timestamp_seconds') <= caNotAfter);
      assert.ok(hasSample(text, 'trustgate_ca_certificate_soonest_expiry_timestamp_seconds'));
      if (withToken) {
        assert.equal(sampleValue(text, 'trustgate_tenant_agent_certificates_expiring', { tenant, within: '7d' }), 1);
        assert.equal(sampleValue(text, 'trustgate_tenant_ca_certificate_expiry_timestamp_seconds', { tenant, ca_certificate_id: ca.id, kind: 'uploaded' }), caNotAfter);
      } else {
        assert.equal(text.includes(tenant), false, 'an open /metrics names no tenant');
        assert.equal(text.includes(ca.id), false, 'nor a CA');
        assert.equal(text.includes('trustgate_tenant_'), false);
      }
    });
  });
}
