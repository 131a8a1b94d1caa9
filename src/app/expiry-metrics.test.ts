import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { hasSample, sampleValue } from '../../test/support/metrics-text.ts';
import type { CaExpiry } from '../storage/index.ts';
import { registerExpiryMetrics } from './expiry-metrics.ts';

const NOW = new Date('2027-01-01T00:00:00.000Z');
const DAY_MS = 86_400_000;

const fakeSource = () => {
  const state = {
    cas: [] as CaExpiry[],
    // notAfter per tenant's agents
    agents: [] as { tenant: string; notAfter: Date }[],
    fail: false,
  };
  return {
    state,
    source: {
      listCaExpiries: async () => {
        if (state.fail) throw new Error('database away');
        return state.cas;
      },
      countAgentCertificatesExpiringBefore: async (before: Date) => {
        if (state.fail) throw new Error('database away');
        const counts = new Map<string, number>();
        for (const agent of state.agents) if (agent.notAfter < before) counts.set(agent.tenant, (counts.get(agent.tenant) ?? 0) + 1);
        return counts;
      },
    },
  };
};

const setUp = (namesTenants: boolean) => {
  const registry = new Registry();
  const lines: any[] = [];
  const { state, source } = fakeSource();
  registerExpiryMetrics({ registry, source, namesTenants, now: () => NOW, logger: pino({}, { write: (line: string) => lines.push(JSON.parse(line)) }) });
  return { state, lines, scrape: () => registry.metrics() };
};

const ca = (tenant: string, id: string, days: number): CaExpiry => ({ tenant, caCertificateId: id, name: id, kind: 'uploaded', notAfter: new Date(NOW.getTime() + days * DAY_MS) });

describe('expiry metrics', () => {
  it('without a CA the soonest-expiry family has no sample (not 0, which would read as expired); agent counts are 0', async () => {
    const { scrape } = setUp(false);
    const text = await scrape();
    assert.equal(hasSample(text, 'trustgate_ca_certificate_soonest_expiry_timestamp_seconds'), false, text);
    assert.equal(sampleValue(text, 'trustgate_agent_certificates_expiring', { within: '7d' }), 0);
    assert.ok(hasSample(text, 'trustgate_agent_certificates_expiring', { within: '30d' }));
  });

  it('without the token: aggregates only, naming no tenant or CA', async () => {
    const { state, scrape } = setUp(false);
    state.cas = [ca('acme', 'ca-a', 40), ca('globex', 'ca-g', 12)];
    state.agents = [{ tenant: 'acme', notAfter: new Date(NOW.getTime() + 3 * DAY_MS) }, { tenant: 'globex', notAfter: new Date(NOW.getTime() + 20 * DAY_MS) },
      { tenant: 'globex', notAfter: new Date(NOW.getTime() - DAY_MS) }, { tenant: 'acme', notAfter: new Date(NOW.getTime() + 90 * DAY_MS) }];
    const text = await scrape();
    assert.equal(sampleValue(text, 'trustgate_ca_certificate_soonest_expiry_timestamp_seconds'), (NOW.getTime() + 12 * DAY_MS) / 1000);
    assert.equal(sampleValue(text, 'trustgate_agent_certificates_expiring', { within: '7d' }), 2, 'the expired one included');
    assert.equal(sampleValue(text, 'trustgate_agent_certificates_expiring', { within: '30d' }), 3);
    for (const name of ['acme', 'globex', 'ca-a', 'ca-g', 'trustgate_tenant_']) assert.equal(text.includes(name), false, `${name} in ${text}`);
  });

  it('with the token: per tenant and CA; a deleted CA\'s and a tenant\'s vanished series go', async () => {
    const { state, scrape } = setUp(true);
    state.cas = [ca('acme', 'ca-a', 40), ca('globex', 'ca-g', 12)];
    state.agents = [{ tenant: 'acme', notAfter: new Date(NOW.getTime() + 3 * DAY_MS) }];
    let text = await scrape();
    assert.equal(sampleValue(text, 'trustgate_tenant_ca_certificate_expiry_timestamp_seconds', { tenant: 'acme', ca_certificate_id: 'ca-a', kind: 'uploaded' }), (NOW.getTime() + 40 * DAY_MS) / 1000);
    assert.equal(sampleValue(text, 'trustgate_tenant_agent_certificates_expiring', { tenant: 'acme', within: '7d' }), 1);
    assert.equal(hasSample(text, 'trustgate_tenant_agent_certificates_expiring', { tenant: 'globex' }), false);
    state.cas = [ca('acme', 'ca-a', 40)];
    state.agents = [];
    text = await scrape();
    assert.equal(hasSample(text, 'trustgate_tenant_ca_certificate_expiry_timestamp_seconds', { ca_certificate_id: 'ca-g' }), false);
    assert.equal(hasSample(text, 'trustgate_tenant_agent_certificates_expiring', { tenant: 'acme' }), false);
  });

  it('a database that fails leaves the last values, with one warning until it answers again', async () => {
    const { state, lines, scrape } = setUp(false);
    state.cas = [ca('acme', 'ca-a', 12)];
    state.agents = [{ tenant: 'acme', notAfter: new Date(NOW.getTime() + 3 * DAY_MS) }];
    await scrape();
    state.fail = true;
    const during = await scrape();
    await scrape();
    assert.equal(sampleValue(during, 'trustgate_ca_certificate_soonest_expiry_timestamp_seconds'), (NOW.getTime() + 12 * DAY_MS) / 1000);
    assert.equal(sampleValue(during, 'trustgate_agent_certificates_expiring', { within: '7d' }), 1);
    assert.deepEqual(lines.map((line) => line.msg), ['expiry metrics: could not read certificate expiries; the series keep their last values']);
    state.fail = false;
    await scrape();
    assert.equal(lines.at(-1).msg, 'expiry metrics: the database answers again');
  });

  it('CRLs: the soonest nextUpdate without names (absent without a CRL); per tenant and CA with the token', async () => {
    const plain = setUp(false);
    plain.state.cas = [ca('acme', 'ca-a', 40)];
    assert.equal(hasSample(await plain.scrape(), 'trustgate_crl_soonest_next_update_timestamp_seconds'), false, 'no CRL: no sample');
    const withCrl = (entry: CaExpiry, days: number): CaExpiry => ({ ...entry, crlNextUpdate: new Date(NOW.getTime() + days * DAY_MS) });
    plain.state.cas = [withCrl(ca('acme', 'ca-a', 40), 7), withCrl(ca('globex', 'ca-g', 40), -2), ca('initech', 'ca-i', 40)];
    let text = await plain.scrape();
    assert.equal(sampleValue(text, 'trustgate_crl_soonest_next_update_timestamp_seconds'), (NOW.getTime() - 2 * DAY_MS) / 1000, 'a stale CRL is the soonest');
    for (const name of ['acme', 'globex', 'ca-a', 'ca-g', 'trustgate_tenant_']) assert.equal(text.includes(name), false, `${name} in ${text}`);

    const named = setUp(true);
    named.state.cas = plain.state.cas;
    text = await named.scrape();
    assert.equal(sampleValue(text, 'trustgate_tenant_crl_next_update_timestamp_seconds', { tenant: 'acme', ca_certificate_id: 'ca-a' }), (NOW.getTime() + 7 * DAY_MS) / 1000);
    assert.equal(hasSample(text, 'trustgate_tenant_crl_next_update_timestamp_seconds', { ca_certificate_id: 'ca-i' }), false, 'a CA without a CRL has no series');
  });
});
