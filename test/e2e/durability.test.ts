import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { killAllSpawnedServers, spawnServer, type SpawnedServer } from '../support/spawn-server.ts';
import {
  api, cliToken, makeTempDir, opensslCa, opensslVerificationCertificate, removeDir, type ApiAnswer, type OpensslCa,
} from './e2e-helpers.ts';

// What was acknowledged stays: across a graceful restart (SIGTERM) and across SIGKILL sent the
// instant the acknowledgement arrives. The real CLI server on one data dir, started again and again.

const tempDirs: string[] = [];
after(async () => {
  await killAllSpawnedServers();
  await Promise.all(tempDirs.map(removeDir));
});

const tempDir = async (prefix: string): Promise<string> => {
  const dir = await makeTempDir(prefix);
  tempDirs.push(dir);
  return dir;
};

const upload = (server: SpawnedServer, token: string, ca: OpensslCa, name: string): Promise<ApiAnswer> =>
  api(`${server.apiUrl}/caCertificates`, token, { body: { name, caCertificate: ca.pem } });

const registrationCodeOf = async (server: SpawnedServer, token: string, id: string): Promise<string> => {
  const answer = await api(`${server.apiUrl}/caCertificates/${id}/registrationCode`, token);
  assert.equal(answer.status, 200, answer.text);
  return answer.body.registrationCode as string;
};

const listOf = async (server: SpawnedServer, token: string): Promise<any[]> => {
  const answer = await api(`${server.apiUrl}/caCertificates`, token);
  assert.equal(answer.status, 200, answer.text);
  return answer.body as any[];
};

// Sends the request and SIGKILLs the server the moment the response status arrives (before the
// body is read). Returns the status and, if it was already received, the body.
const requestThenKill9 = async (server: SpawnedServer, url: string, token: string, body: unknown): Promise<{ status: number; body: any }> => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  server.process.kill('SIGKILL');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await response.text());
  } catch {
    parsed = undefined; // the connection died with the server before the body was read: fine
  }
  await server.kill9();
  return { status: response.status, body: parsed };
};

// The server gives stalled requests a 3 s grace (SHUTDOWN_GRACE_MS), then closes their
// connections. Waiting for them instead would take Node's headersTimeout (a minute) or for ever (a
// half-sent body): 10 s tells the two apart and leaves room for a busy machine.
const STALLED_STOP_BOUND_MS = 10_000;

// The three scenarios have data dirs of their own and run side by side. Deadlines only matter
// when something hangs: generous, so that a busy machine (a restart takes over 10 s with both
// cores taken) does not trip them.
describe('durability of the CLI server on one data dir', { timeout: 300_000, concurrency: true }, () => {
  test('after SIGTERM (exit 0 within 5 s) and a restart, both CA certificates, their registration codes, the verified state and earlier tokens are all still there', async (t) => {
    const dataDir = await tempDir('durability-sigterm');
    const pkiDir = await tempDir('durability-sigterm-pki');
    const first = await spawnServer({ dataDir, t });
    const token = await cliToken(dataDir, ['--tenant', 'tenant-a']);
    const readToken = await cliToken(dataDir, ['--tenant', 'tenant-a', '--scope', 'mcmqtt.read']);

    const [ca1, ca2] = await Promise.all([opensslCa(pkiDir, 'tenant-a-ca-1'), opensslCa(pkiDir, 'tenant-a-ca-2')]);
    const up1 = await upload(first, token, ca1!, 'CA one');
    assert.equal(up1.status, 201, up1.text);
    const up2 = await upload(first, token, ca2!, 'CA two');
    assert.equal(up2.status, 201, up2.text);
    const code1 = await registrationCodeOf(first, token, up1.body.id);
    const code2 = await registrationCodeOf(first, token, up2.body.id);
    assert.notEqual(code1, code2);
    const verified = await api(`${first.apiUrl}/caCertificates/${up1.body.id}/verify`, token,
      { body: { verificationCertificate: await opensslVerificationCertificate(pkiDir, ca1!, code1) } });
    assert.equal(verified.status, 200, verified.text);
    assert.equal(verified.body.isVerified, true);
    const before = await listOf(first, token);

    const stoppingAt = Date.now();
    const exitCode = await first.stop('SIGTERM', { timeoutMs: 5_000 });
    const stopMs = Date.now() - stoppingAt;
    assert.equal(exitCode, 0, `exit code after SIGTERM; output:\n${first.output().slice(-3000)}`);
    assert.ok(stopMs < 5_000, `took ${stopMs} ms to exit`);
    assert.ok(first.logLines().some((line) => line.signal === 'SIGTERM'), 'logs which signal started the shutdown');
    assert.ok(!/"level":(50|60)/.test(first.output()), `no error logged while shutting down:\n${first.output().slice(-3000)}`);

    const second = await spawnServer({ dataDir, t });
    try {
      // Tokens minted before the restart (by the CLI, on the same data dir) still work.
      const after = await listOf(second, token);
      assert.deepEqual(after, before);
      assert.deepEqual(await listOf(second, readToken), before);
      const byId = new Map(after.map((ca) => [ca.id, ca]));
      assert.equal(byId.get(up1.body.id)?.isVerified, true);
      assert.equal(byId.get(up1.body.id)?.verifiedAt, verified.body.verifiedAt);
      assert.equal(byId.get(up2.body.id)?.isVerified, false);
      assert.equal(byId.get(up1.body.id)?.fingerprint, ca1!.fingerprint);
      assert.equal(byId.get(up2.body.id)?.fingerprint, ca2!.fingerprint);
      assert.equal(await registrationCodeOf(second, token, up1.body.id), code1);
      assert.equal(await registrationCodeOf(second, token, up2.body.id), code2);

      // The limit still counts both, and the second CA's pre-restart code still verifies it.
      const third = await upload(second, token, await opensslCa(pkiDir, 'tenant-a-ca-3'), 'CA three');
      assert.equal(third.status, 409, third.text);
      assert.equal(third.body.errors[0].code, 'caCertificate.limitReached');
      const verified2 = await api(`${second.apiUrl}/caCertificates/${up2.body.id}/verify`, token,
        { body: { verificationCertificate: await opensslVerificationCertificate(pkiDir, ca2!, code2) } });
      assert.equal(verified2.status, 200, verified2.text);
      assert.equal(verified2.body.isVerified, true);
    } finally {
      assert.equal(await second.stop('SIGTERM', { timeoutMs: 5_000 }), 0);
    }
  });

  test('SIGTERM exits (code 0) after the grace period even while clients stall mid-request, instead of waiting for them', async (t) => {
    const dataDir = await tempDir('durability-stalled');
    const server = await spawnServer({ dataDir, t });
    const token = await cliToken(dataDir, ['--tenant', 'tenant-a']);
    const sockets: Socket[] = [];
    const stalledClient = async (bytes: string): Promise<Socket> => {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      sockets.push(socket);
      await once(socket, 'connect');
      socket.write(bytes);
      return socket;
    };
    try {
      // A slow link: headers not finished; and an upload whose body stops half-way.
      await stalledClient('GET /api/mindconnectmqtt/v3/caCertificates HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const upload = await stalledClient(`POST /api/mindconnectmqtt/v3/caCertificates HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n`);
      // Positive control instead of a pause: "100 Continue" shows the server has the upload in
      // hand, headers read, waiting for its body (the other client connected before it).
      const [interim] = await once(upload, 'data') as [Buffer];
      assert.match(interim.toString('latin1'), /^HTTP\/1\.1 100 Continue\r\n/);
      upload.write('{"name": "half');
      const stoppingAt = Date.now();
      let exitCode: number | null | undefined;
      let failure: unknown;
      try {
        exitCode = await server.stop('SIGTERM', { timeoutMs: STALLED_STOP_BOUND_MS });
      } catch (error) {
        failure = error;
      }
      assert.equal(failure, undefined, `trustgate serve was still running ${Date.now() - stoppingAt} ms after SIGTERM while 2 clients stalled (killed with SIGKILL)`);
      assert.equal(exitCode, 0);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  test('SIGKILL the instant a 201 upload or a 200 verify is acknowledged, 5 times: after each restart the acknowledged state is there', async (t) => {
    const ITERATIONS = 5;
    const dataDir = await tempDir('durability-sigkill');
    const pkiDir = await tempDir('durability-sigkill-pki');
    let server = await spawnServer({ dataDir, t });
    const acknowledged: { tenant: string; token: string; ca: OpensslCa; id: string | undefined; verified: boolean }[] = [];

    const checkAllAcknowledged = async (where: string) => {
      for (const entry of acknowledged) {
        const list = await listOf(server, entry.token);
        const found = list.find((ca) => ca.fingerprint === entry.ca.fingerprint);
        assert.ok(found, `${where}: the CA of ${entry.tenant} acknowledged with 201 is gone after SIGKILL; list: ${JSON.stringify(list)}`);
        assert.equal(list.length, 1, `${where}: ${entry.tenant} holds exactly the one CA`);
        if (entry.id !== undefined) assert.equal(found.id, entry.id, `${where}: same id as acknowledged`);
        assert.equal(found.isVerified, entry.verified, `${where}: ${entry.tenant} isVerified as acknowledged`);
      }
    };

    for (let i = 0; i < ITERATIONS; i++) {
      const tenant = `crash-${i}`;
      const token = await cliToken(dataDir, ['--tenant', tenant]);
      const ca = await opensslCa(pkiDir, `crash-ca-${i}`, i % 2 === 0 ? 'ec' : 'rsa');

      // Upload, SIGKILL on the 201, restart.
      const uploaded = await requestThenKill9(server, `${server.apiUrl}/caCertificates`, token, { name: `crash CA ${i}`, caCertificate: ca.pem });
      assert.equal(uploaded.status, 201, `iteration ${i}: upload ${JSON.stringify(uploaded.body)}`);
      const entry = { tenant, token, ca, id: uploaded.body?.id as string | undefined, verified: false };
      acknowledged.push(entry);
      server = await spawnServer({ dataDir, t });
      await checkAllAcknowledged(`iteration ${i}, after the upload`);

      // Verify, SIGKILL on the 200, restart.
      const id = (await listOf(server, token))[0].id as string;
      entry.id = id;
      const code = await registrationCodeOf(server, token, id);
      const proof = await opensslVerificationCertificate(pkiDir, ca, code);
      const verified = await requestThenKill9(server, `${server.apiUrl}/caCertificates/${id}/verify`, token, { verificationCertificate: proof });
      assert.equal(verified.status, 200, `iteration ${i}: verify ${JSON.stringify(verified.body)}`);
      entry.verified = true;
      server = await spawnServer({ dataDir, t });
      await checkAllAcknowledged(`iteration ${i}, after the verify`);
      assert.equal(await registrationCodeOf(server, token, id), code, 'the registration code survives the crash');
    }

    assert.equal(await server.stop('SIGTERM', { timeoutMs: 5_000 }), 0);
  });
});
