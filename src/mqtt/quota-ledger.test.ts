import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InMemoryQuotaLedger } from './quota-ledger.ts';

const caps = { perClient: 2, perTenant: 3 };

test('retained topics: a replacement is free, new topics stop at the client and tenant caps, a clearing frees a place', async () => {
  const ledger = new InMemoryQuotaLedger();
  assert.equal(await ledger.claimRetained('t', 't_a', 'tc/t/x/i/1', caps), 'ok');
  assert.equal(await ledger.claimRetained('t', 't_a', 'tc/t/x/i/2', caps), 'ok');
  assert.equal(await ledger.claimRetained('t', 't_a', 'tc/t/x/i/3', caps), 'retainedPerClient');
  assert.equal(await ledger.claimRetained('t', 't_a', 'tc/t/x/i/1', caps), 'ok', 'a replacement');
  assert.equal(await ledger.claimRetained('t', 't_b', 'tc/t/x/i/4', caps), 'ok');
  assert.equal(await ledger.claimRetained('t', 't_b', 'tc/t/x/i/5', caps), 'retainedPerTenant');
  assert.equal(await ledger.claimRetained('u', 't_b', 'tc/u/x/i/5', caps), 'ok', 'another tenant has its own count');
  await ledger.releaseRetained('t', 'tc/t/x/i/1');
  assert.equal(await ledger.claimRetained('t', 't_a', 'tc/t/x/i/3', caps), 'ok');
});

test('queued messages: per session and per tenant; a connected session is held to its own cap only; releases free places', async () => {
  const ledger = new InMemoryQuotaLedger();
  const away = (clientId: string) => ({ clientId, tenant: 't', isConnected: false });
  assert.deepEqual(await ledger.reserveQueued([away('t_a'), away('t_b')], caps), ['ok', 'ok']);
  assert.deepEqual(await ledger.reserveQueued([away('t_a'), away('t_b')], caps), ['ok', 'queuedPerTenant']);
  assert.deepEqual(await ledger.reserveQueued([away('t_a')], caps), ['queuedPerClient']);
  assert.deepEqual(await ledger.reserveQueued([{ clientId: 't_c', tenant: 't', isConnected: true }], caps), ['ok']);
  ledger.releaseQueued('t_a', 't');
  ledger.releaseQueued('t_a', 't');
  ledger.releaseQueued('t_a', 't'); // more releases than reservations never go below zero
  assert.deepEqual(await ledger.reserveQueued([away('t_b')], caps), ['ok']);
});

test('persistent sessions: a tenant minting new client ids stops at its cap; resuming one is free; a cleaned session frees its place', async () => {
  const ledger = new InMemoryQuotaLedger();
  assert.equal(await ledger.claimSession('t', 't_a', 2), 'ok');
  assert.equal(await ledger.claimSession('t', 't_b', 2), 'ok');
  assert.equal(await ledger.claimSession('t', 't_c', 2), 'persistentSessionsPerTenant');
  assert.equal(await ledger.claimSession('t', 't_a', 2), 'ok', 'resuming a session it holds');
  assert.equal(await ledger.claimSession('u', 'u_a', 2), 'ok', 'another tenant has its own count');
  await ledger.sessionCleaned('t_c'); // never counted: frees nothing
  assert.equal(await ledger.claimSession('t', 't_c', 2), 'persistentSessionsPerTenant');
  await ledger.sessionCleaned('t_a');
  await ledger.sessionCleaned('t_a');
  assert.equal(await ledger.claimSession('t', 't_c', 2), 'ok');
  assert.equal(await ledger.claimSession('t', 't_a', 2), 'persistentSessionsPerTenant', 'a cleaned session is a new one');
});
