import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import { agentCertificate, connectRefused, verifiedCa } from '../support/broker-refusal-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { waitUntil } from '../support/wait-until.ts';

// Review of issue 16: the broker's refusals and bans reach GET /auditEvents through the real
// server (start-app wires the database trail into the broker), for the tenant whose certificate
// was refused and for no other; another tenant can neither list nor lift its ban. Refusals are
// written when their minute is over or when the server stops: the server is restarted on the same
// data directory to read them.

const policy = {
  rest: null,
  mqtt: { connectPerClientId: { perSecond: 0.001, burst: 2 }, connectPerSourceAddress: { perSecond: 1000, burst: 1000 }, ban: { refusals: 3, windowMs: 60_000, banMs: 600_000 } },
};

let dir: string;
let server: TestServer | undefined;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustgate-connect-audit-'));
  await writeFile(join(dir, 'policy.json'), JSON.stringify(policy));
});
after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const start = () => startTestServer({ TRUSTGATE_RATE_LIMITS: join(dir, 'policy.json'), TRUSTGATE_DATA_DIR: join(dir, 'data') });
const eventsOf = async (tenant: string, action: string): Promise<any[]> => {
  const answer = await server!.api(tenant, `/auditEvents?action=${action}&limit=1000`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.auditEvents;
};

test('a revoked certificate in a loop: counted refusals and its ban in the tenant\'s GET /auditEvents, in no other tenant\'s; another tenant cannot lift the ban', { timeout: 120_000 }, async () => {
  server = await start();
  const tenant = newTenant('audited');
  const other = newTenant('other');
  const { ca, id } = await verifiedCa(server, tenant);
  await verifiedCa(server, other);
  const agent = await agentCertificate(ca, 'pump-7', { serialNumber: '0badcafe' });
  assert.equal((await server.api(tenant, `/caCertificates/${id}/revokedCertificates`, { body: { serialNumber: '0badcafe' } })).status, 201);
  const clientId = `${tenant}_pump-7`;
  const codes: (number | undefined)[] = [];
  for (let i = 0; i < 5; i += 1) codes.push(await connectRefused(server, clientId, { agent }));
  // Two trust refusals (the burst), the third over the rate (banned with it), then banned.
  assert.deepEqual(codes, [5, 5, 3, 3, 3]);

  // The ban is written at once.
  let banned: any[] = [];
  await waitUntil(async () => (banned = await eventsOf(tenant, 'mqtt.clientBanned')).length > 0, 10_000, 'the ban in the audit trail');
  assert.equal(banned.length, 1);
  assert.equal(banned[0].reason, 'mqtt.certificateRevoked');
  assert.equal(banned[0].count, 3);
  assert.deepEqual(banned[0].actor, { type: 'system', id: 'trustgate' });
  assert.deepEqual(await eventsOf(other, 'mqtt.clientBanned'), [], 'another tenant never sees it');

  const [ban] = (await server.api(tenant, '/bans')).body;
  assert.equal(`ban:${ban.id}`, banned[0].target);
  assert.deepEqual((await server.api(other, '/bans')).body, [], 'another tenant does not list it');
  assert.equal((await server.api(other, `/bans/${ban.id}`, { method: 'DELETE' })).status, 404, 'another tenant cannot lift it');
  assert.equal((await server.api(tenant, '/bans')).body.length, 1, 'still banned');

  // Refusals are aggregated per minute; a stop writes the current minute's.
  await server.close();
  server = await start();
  const refused = await eventsOf(tenant, 'mqtt.connectRefused');
  const total = (reason: string) => refused.filter((event) => event.reason === reason).reduce((sum, event) => sum + event.count, 0);
  assert.equal(total('mqtt.certificateRevoked'), 2, JSON.stringify(refused));
  assert.equal(total('mqtt.connectRateLimited'), 1);
  assert.equal(total('mqtt.clientBanned'), 2);
  assert.ok(refused.length <= 6, 'aggregated, not one entry per attempt');
  assert.ok(refused.every((event) => event.target === `clientId:${clientId}` && event.tenant === tenant && event.sourceAddress !== null));
  assert.deepEqual(await eventsOf(other, 'mqtt.connectRefused'), [], 'another tenant never sees them');
});
