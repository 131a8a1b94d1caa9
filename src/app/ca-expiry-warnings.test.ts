import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import pino from 'pino';
import type { CaExpiry } from '../storage/index.ts';
import { waitUntil } from '../../test/support/wait-until.ts';
import { CA_EXPIRY_WARNING_INTERVAL_MS, startCaExpiryWarnings } from './ca-expiry-warnings.ts';

const DAY_MS = 86_400_000;
const START = new Date('2027-01-01T00:00:00.000Z');

const collectingLogger = () => {
  const lines: any[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
};

const ca = (id: string, notAfter: Date, tenant = 'acme'): CaExpiry => ({ tenant, caCertificateId: id, name: id, kind: 'uploaded', notAfter });

describe('CA expiry warnings: at start, then daily (fake clock)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'Date'], now: START }));
  afterEach(() => mock.timers.reset());

  it('warns at start about CAs expiring within 30 days or expired, not about later ones; again a day later, as time moves on', async () => {
    const { logger, lines } = collectingLogger();
    const cas = [
      ca('in-40-days', new Date(START.getTime() + 40 * DAY_MS)),
      ca('in-12-days', new Date(START.getTime() + 12.5 * DAY_MS), 'globex'),
      ca('expired', new Date(START.getTime() - DAY_MS)),
    ];
    let checks = 0;
    const warnings = startCaExpiryWarnings({ listCaExpiries: async () => { checks++; return [...cas]; }, logger, now: () => new Date() });
    await warnings.settled();
    assert.equal(checks, 1, 'the first check runs at start');
    assert.deepEqual(lines.map((line) => [line.level, line.caCertificateId, line.daysLeft]), [[40, 'expired', undefined], [40, 'in-12-days', 12]]);
    assert.match(lines[0].msg, /has expired/);
    assert.match(lines[1].msg, /expires within 30 days/);
    assert.equal(lines[1].tenant, 'globex');

    lines.length = 0;
    mock.timers.tick(CA_EXPIRY_WARNING_INTERVAL_MS - 1);
    await warnings.settled();
    assert.equal(checks, 1, 'nothing before a day has passed');
    // Eleven days on, the 40-day CA comes within 30 days as well.
    mock.timers.tick(1);
    for (let day = 1; day < 11; day++) mock.timers.tick(CA_EXPIRY_WARNING_INTERVAL_MS);
    await waitUntil(() => checks === 12, 2_000, 'a check a day');
    await warnings.settled();
    const lastDay = lines.slice(-3);
    assert.deepEqual(lastDay.map((line) => [line.caCertificateId, line.daysLeft]), [['expired', undefined], ['in-12-days', 1], ['in-40-days', 29]]);
    await warnings.close();
    mock.timers.tick(CA_EXPIRY_WARNING_INTERVAL_MS);
    assert.equal(checks, 12, 'closed: no more checks');
  });

  it('a failed read is one warning, and the next day\'s check runs', async () => {
    const { logger, lines } = collectingLogger();
    let fail = true;
    const warnings = startCaExpiryWarnings({
      listCaExpiries: async () => { if (fail) throw new Error('database away'); return [ca('soon', new Date(Date.now() + DAY_MS))]; }, logger,
    });
    await warnings.settled();
    assert.deepEqual(lines.map((line) => line.msg), ['CA expiry check: could not read the CA certificates; next check in a day']);
    fail = false;
    mock.timers.tick(CA_EXPIRY_WARNING_INTERVAL_MS);
    await waitUntil(() => lines.length === 2, 2_000, 'the next check');
    assert.equal(lines[1].caCertificateId, 'soon');
    await warnings.close();
  });

  it('warns about CRLs due within 30 days or stale (past nextUpdate), not about later ones', async () => {
    const { logger, lines } = collectingLogger();
    const withCrl = (entry: CaExpiry, days: number): CaExpiry => ({ ...entry, crlNextUpdate: new Date(START.getTime() + days * DAY_MS) });
    const cas = [
      withCrl(ca('crl-in-60-days', new Date(START.getTime() + 400 * DAY_MS)), 60),
      withCrl(ca('crl-in-5-days', new Date(START.getTime() + 400 * DAY_MS)), 5.5),
      withCrl(ca('crl-stale', new Date(START.getTime() + 400 * DAY_MS), 'globex'), -1),
    ];
    const warnings = startCaExpiryWarnings({ listCaExpiries: async () => cas, logger, now: () => new Date() });
    await warnings.settled();
    assert.deepEqual(lines.map((line) => [line.caCertificateId, line.daysLeft]), [['crl-stale', undefined], ['crl-in-5-days', 5]]);
    assert.match(lines[0].msg, /CRL is stale .*still enforced/);
    assert.equal(lines[0].tenant, 'globex');
    assert.match(lines[1].msg, /CRL is due within 30 days/);
    await warnings.close();
  });
});

describe('CA expiry warnings: the certificate.expiring webhook event', () => {
  it('reports each CA expiring within 30 days (not an expired one, not a later one), with one id per CA and day', async () => {
    const { logger } = collectingLogger();
    const expiring: [string, number][] = [];
    const now = new Date('2027-01-01T12:00:00Z');
    const warnings = startCaExpiryWarnings({
      listCaExpiries: async () => [ca('in-40-days', new Date(now.getTime() + 40 * DAY_MS)), ca('in-3-days', new Date(now.getTime() + 3.5 * DAY_MS)), ca('expired', new Date(now.getTime() - DAY_MS))],
      logger, now: () => now, onExpiring: (entry, daysLeft) => expiring.push([entry.caCertificateId, daysLeft]),
    });
    await warnings.settled();
    await warnings.close();
    assert.deepEqual(expiring, [['in-3-days', 3]]);
    const { expiringEventId } = await import('./expiring-event-id.ts');
    assert.equal(expiringEventId('caCertificate:c1', now), expiringEventId('caCertificate:c1', new Date('2027-01-01T23:59:59Z')));
    assert.notEqual(expiringEventId('caCertificate:c1', now), expiringEventId('caCertificate:c1', new Date('2027-01-02T00:00:00Z')));
    assert.match(expiringEventId('caCertificate:c1', now), /^[0-9a-f]{24}$/);
  });
});
