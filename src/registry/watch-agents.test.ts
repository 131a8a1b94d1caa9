import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError, type AgentId, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { AgentRecord } from './agent.ts';
import { watchAgents, type AgentChange } from './watch-agents.ts';

// The shared poll behind GET /agents/events: one read per tenant and tick whatever the number of
// watchers, each difference told once to each, the caps, and nothing left running.

const T = 'acme' as TenantId;
const agent = (id: string, fields: Partial<AgentRecord> = {}): AgentRecord => ({
  id: id as AgentId, tenant: T, clientId: `acme_${id}`, commonName: id, caCertificateId: 'ca' as CaCertificateId,
  certificateFingerprintSha256: 'f', certificateValidity: undefined, isEnabled: true, isOnline: false,
  firstConnectedAt: new Date(0), lastConnectedAt: new Date(0), ...fields,
});

const fakeStore = () => {
  const store = { agents: new Map<TenantId, AgentRecord[]>(), reads: 0, readsOf: new Map<TenantId, number>(), failing: false };
  const listAgents = async (tenant: TenantId) => {
    store.reads += 1;
    store.readsOf.set(tenant, (store.readsOf.get(tenant) ?? 0) + 1);
    if (store.failing) throw new Error('database away');
    return store.agents.get(tenant) ?? [];
  };
  return { store, listAgents };
};

const until = async (condition: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 3000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

const refusedWith = (code: string) => (error: unknown) => error instanceof DomainError && error.code === code;

const options = { intervalMs: 20, maxWatchersPerTenant: 3, maxWatchers: 4, log: { warn: () => undefined } };

test('each change is told once to every watcher of the tenant, from one read per tick', async () => {
  const { store, listAgents } = fakeStore();
  store.agents.set(T, [agent('a'), agent('b')]);
  const watch = watchAgents({ listAgents, ...options });
  const seen: AgentChange[][] = [[], []];
  const first = await watch.watch(T, (change) => seen[0]!.push(change));
  const second = await watch.watch(T, (change) => seen[1]!.push(change));
  assert.deepEqual(first.agents.map((a) => a.id), ['a', 'b']);
  assert.deepEqual(second.agents.map((a) => a.id), ['a', 'b']);

  store.agents.set(T, [agent('a', { isOnline: true }), agent('c')]);
  await until(() => seen.every((changes) => changes.length === 3), 'three changes each');
  for (const changes of seen) {
    assert.deepEqual(changes.map((change) => change.type === 'agent' ? `agent ${change.agent.id}` : `deleted ${change.id}`).sort(), ['agent a', 'agent c', 'deleted b']);
  }
  // Unchanged reads tell nothing; two watchers do not double the reads (one per tick, not per watcher).
  const readsBefore = store.reads;
  await until(() => store.reads >= readsBefore + 5, 'five more ticks');
  assert.equal(seen[0]!.length, 3);
  assert.ok(store.reads - readsBefore < 10, `${store.reads - readsBefore} reads in ~5 ticks for two watchers`);

  first.close();
  second.close();
  assert.equal(watch.size, 0);
  const readsAfterClose = store.readsOf.get(T)!;
  // Positive control: another tenant's poll ticks on meanwhile.
  await watch.watch('other' as TenantId, () => undefined);
  const otherReads = () => store.readsOf.get('other' as TenantId) ?? 0;
  await until(() => otherReads() >= 4, 'the other tenant\'s poll ticked thrice');
  assert.ok(store.readsOf.get(T)! <= readsAfterClose + 1, 'the poll stopped with its last watcher');
  watch.close();
});

test('caps per tenant and per node; a closed watch frees its place; another tenant counts only against the node', async () => {
  const { listAgents } = fakeStore();
  const watch = watchAgents({ listAgents, ...options });
  const opened = [await watch.watch(T, () => undefined), await watch.watch(T, () => undefined), await watch.watch(T, () => undefined)];
  await assert.rejects(watch.watch(T, () => undefined), refusedWith('agent.streamTenantLimitReached'));
  await watch.watch('other' as TenantId, () => undefined);
  await assert.rejects(watch.watch('third' as TenantId, () => undefined), refusedWith('agent.streamNodeLimitReached'));
  opened[0]!.close();
  opened[0]!.close();
  assert.equal(watch.size, 3, 'closing twice frees one place');
  await watch.watch(T, () => undefined);
  watch.close();
});

test('a failing first read refuses the watch with the store\'s error and frees its place', async () => {
  const { store, listAgents } = fakeStore();
  store.failing = true;
  const watch = watchAgents({ listAgents, ...options });
  await assert.rejects(watch.watch(T, () => undefined), /database away/);
  assert.equal(watch.size, 0);
  store.failing = false;
  assert.deepEqual((await watch.watch(T, () => undefined)).agents, []);
  watch.close();
});
