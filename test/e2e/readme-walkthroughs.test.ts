import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { killAllSpawnedServers, REPO_ROOT, spawnServer, TRUSTGATE_BIN, type SpawnedServer } from '../support/spawn-server.ts';
import { api, cliToken, makeTempDir, removeDir, run } from './e2e-helpers.ts';

// Issue 13, item 3: a new user ran the README's walkthroughs one after the other in one directory
// and the second overwrote the first's files (pump-1.key/.pem from OpenSSL replaced the CLI's,
// leaving pump-1-chain.pem for another key) and registered a second CA named "acme CA". This test
// runs the README's own sh blocks — the four CLI commands, the MindConnect how-to, "Connect an
// agent" — in that order, in one empty directory, against a server on free ports, and checks that
// nothing of the first is touched by the second. A README edit that breaks them fails here.

const SECTIONS = [
  '## From nothing to a connected agent in four commands',
  '## The MindConnect how-to with OpenSSL and curl, unchanged',
  '## Connect an agent',
];

const shBlocksOf = (markdown: string, heading: string): string[] => {
  const start = markdown.indexOf(`${heading}\n`);
  assert.ok(start >= 0, `README has the section "${heading}"`);
  const end = markdown.indexOf('\n## ', start + heading.length);
  const blocks = [...markdown.slice(start, end === -1 ? undefined : end).matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
  assert.ok(blocks.length > 0, `"${heading}" has an sh block`);
  return blocks;
};

/** Replaces every `from` (at least one must be there, so a README edit cannot skip a step silently). */
const replaceAll = (script: string, from: string, to: string): string => {
  assert.ok(script.includes(from), `the README's commands contain ${JSON.stringify(from)}`);
  return script.replaceAll(from, to);
};

// What a user does by hand between the commands: read the id and the code from curl's answer, and
// leave the application subscribed (in the README it runs in the background) until the message
// arrives. Waits are bounded loops on what the tools print, not fixed sleeps.
const PRELUDE = String.raw`
ANSWER="$ANSWER_FILE"
curl() { command curl -sS --fail-with-body "$@" | tee "$ANSWER"; echo; }
await_line() { # file, text, what
  for _ in $(seq 1 400); do grep -qF -- "$2" "$1" && return 0; sleep 0.05; done
  echo "timed out waiting for $3 in $1:" >&2; cat "$1" >&2; return 1
}
SUB_PID=
trap 'if [ -n "$SUB_PID" ]; then kill "$SUB_PID" 2>/dev/null || true; fi' EXIT
`;

const scriptFrom = (readme: string, server: SpawnedServer): string => {
  let script = SECTIONS.flatMap((heading) => shBlocksOf(readme, heading)).join('\n');
  script = replaceAll(script, 'npx trustgate', '"$TRUSTGATE"');
  script = replaceAll(script, 'http://localhost:8080', server.url);
  script = replaceAll(script, '-p 8883', `-p ${server.mqttPort}`);
  script = replaceAll(script, 'ID=<the id from the answer>', String.raw`ID=$(sed -n 's/.*"id":"\([0-9a-f]\{24\}\)".*/\1/p' "$ANSWER")`);
  script = replaceAll(script, 'REGISTRATION_CODE=<the code>', String.raw`REGISTRATION_CODE=$(sed -n 's/.*"registrationCode":"\([^"]*\)".*/\1/p' "$ANSWER")`);
  // The application: its output to a file, line-buffered (stdbuf), -d to see its SUBACK before the agent publishes.
  script = replaceAll(script, '\nmosquitto_sub ', '\nstdbuf -oL mosquitto_sub ');
  script = replaceAll(script, '-v &\n', '-v -d > "$SUB_OUT" 2>&1 &\nSUB_PID=$!\nawait_line "$SUB_OUT" "Client ${TENANT}_app received SUBACK" "the application\'s SUBACK"\n');
  return `${PRELUDE}\n${script}\nawait_line "$SUB_OUT" "tc/$TENANT/\${TENANT}_pump-2/o/data hello" "the agent's message"\n`;
};

const publicKeyOf = (pem: string): string => createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();

describe('the README\'s walkthroughs, one after the other in one directory', { timeout: 180_000 }, () => {
  let server: SpawnedServer | undefined;
  const dirs: string[] = [];

  after(async () => {
    try {
      await server?.stop('SIGTERM');
    } finally {
      await killAllSpawnedServers();
      await Promise.all(dirs.map(removeDir));
    }
  });

  test('the CLI path, then the MindConnect how-to and its agent: no file overwritten, two CAs, two agents', async () => {
    const dataDir = await makeTempDir('readme-data');
    const work = await makeTempDir('readme-work');
    const scratch = await makeTempDir('readme-scratch');
    dirs.push(dataDir, work, scratch);
    server = await spawnServer({ dataDir, startTimeoutMs: 60_000 });
    const script = scriptFrom(await readFile(join(REPO_ROOT, 'README.md'), 'utf8'), server);

    const result = await run('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: work,
      env: {
        ...process.env, TRUSTGATE: TRUSTGATE_BIN, TRUSTGATE_DATA_DIR: dataDir, TRUSTGATE_URL: server.url,
        ANSWER_FILE: join(scratch, 'answer'), SUB_OUT: join(scratch, 'application.out'),
      },
      timeoutMs: 120_000,
    });
    const explain = `exit ${result.code}\nscript:\n${script}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}\nserver:\n${server.output().slice(-4000)}`;
    assert.equal(result.code, 0, explain);

    // Every file of both walkthroughs, none shared but the broker's CA (the same certificate twice).
    const files = (await readdir(work)).sort();
    for (const file of [
      'acme-ca.key', 'acme-ca.pem', 'pump-1.key', 'pump-1.pem', 'pump-1-chain.pem', 'pump-1.clientid', 'broker-ca.pem',
      'acme-openssl-ca.key', 'acme-openssl-ca.pem', 'verificationCert.pem', 'pump-2.key', 'pump-2.pem',
    ]) assert.ok(files.includes(file), `${file} in ${files.join(', ')}`);
    const read = (file: string) => readFile(join(work, file), 'utf8');

    // The CLI's agent files still belong together: key, certificate, chain, all from acme-ca.
    const cliCa = new X509Certificate(await read('acme-ca.pem'));
    const pump1 = await read('pump-1.pem');
    assert.equal(publicKeyOf(pump1), publicKeyOf(await read('pump-1.key')), 'pump-1.key is the key of pump-1.pem');
    assert.ok(new X509Certificate(pump1).verify(cliCa.publicKey), 'pump-1.pem was issued by acme-ca.pem');
    assert.equal(await read('pump-1-chain.pem'), pump1 + cliCa.toString(), 'pump-1-chain.pem is pump-1.pem + acme-ca.pem');
    assert.equal(await read('pump-1.clientid'), 'acme_pump-1');
    // The how-to's agent, from its own CA.
    const opensslCa = new X509Certificate(await read('acme-openssl-ca.pem'));
    const pump2 = await read('pump-2.pem');
    assert.equal(publicKeyOf(pump2), publicKeyOf(await read('pump-2.key')));
    assert.ok(new X509Certificate(pump2).verify(opensslCa.publicKey), 'pump-2.pem was issued by acme-openssl-ca.pem');

    // Two CAs in the tenant's two slots, told apart by name, both verified; each agent on its own.
    const token = await cliToken(dataDir, ['--tenant', 'acme']);
    const cas = await api(`${server.apiUrl}/caCertificates`, token);
    assert.equal(cas.status, 200, cas.text);
    const caByName = new Map<string, any>(cas.body.map((ca: any) => [ca.name, ca]));
    assert.deepEqual([...caByName.keys()].sort(), ['acme CA', 'acme OpenSSL CA']);
    assert.ok(cas.body.every((ca: any) => ca.isVerified), cas.text);
    assert.equal(caByName.get('acme CA').fingerprint, cliCa.fingerprint256.replaceAll(':', '').toLowerCase());
    assert.equal(caByName.get('acme OpenSSL CA').fingerprint, opensslCa.fingerprint256.replaceAll(':', '').toLowerCase());
    const agents = await api(`${server.apiUrl}/agents`, token);
    assert.equal(agents.status, 200, agents.text);
    assert.deepEqual(agents.body.map((agent: any) => [agent.clientId, agent.caCertificateId]).sort(), [
      ['acme_pump-1', caByName.get('acme CA').id], ['acme_pump-2', caByName.get('acme OpenSSL CA').id],
    ]);

    // No agent came back with another certificate than its record held (both connections accepted: the control).
    const log = server.output();
    assert.match(log, /"clientId":"acme_pump-1"[^\n]*mqtt connection accepted/);
    assert.match(log, /"clientId":"acme_pump-2"[^\n]*mqtt connection accepted/);
    assert.doesNotMatch(log, /than its record held/);
  });
});
