import assert from 'node:assert/strict';
import { test } from 'node:test';
import { carriesMetricsToken } from './metrics-route.ts';

test('only "Bearer <the token>" passes; prefixes, extensions, other schemes and an empty header do not', () => {
  const token = 'a-metrics-token-0123456789';
  assert.equal(carriesMetricsToken(`Bearer ${token}`, token), true);
  assert.equal(carriesMetricsToken(`bearer  ${token}`, token), true);
  for (const header of [undefined, '', 'Bearer', 'Bearer ', `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Basic ${token}`, token, `Bearer ${token} extra`]) {
    assert.equal(carriesMetricsToken(header, token), false, String(header));
  }
});
