import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expiryMarker, expiryTime } from './output.ts';

const NOW = new Date('2027-01-01T00:00:00.000Z');
const inDays = (days: number): string => new Date(NOW.getTime() + days * 86_400_000).toISOString();

describe('expiry marks (ca list, agent list, ca show)', () => {
  it('marks within 30 days and past, nothing later or unknown', () => {
    assert.equal(expiryMarker(inDays(12.5), NOW), 'expires in 12 days');
    assert.equal(expiryMarker(inDays(1.2), NOW), 'expires in 1 day');
    assert.equal(expiryMarker(inDays(0.5), NOW), 'expires within a day');
    assert.equal(expiryMarker(inDays(-1), NOW), 'expired');
    assert.equal(expiryMarker(inDays(0), NOW), 'expired', 'at notAfter');
    assert.equal(expiryMarker(inDays(30), NOW), '');
    assert.equal(expiryMarker(inDays(29.9), NOW), 'expires in 29 days');
    assert.equal(expiryMarker(null, NOW), '');
    assert.equal(expiryTime(inDays(12), NOW), '2027-01-13 00:00 UTC (expires in 12 days)');
    assert.equal(expiryTime(inDays(400), NOW), '2028-02-05 00:00 UTC');
  });
});
