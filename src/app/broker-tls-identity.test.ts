import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brokerRootCaProfile, issueCertificate, issueServerCertificate, subjectAltNames } from '../pki/index.ts';
import {
  BROKER_ROOT_CA_FILE, BROKER_ROOT_CA_KEY_FILE, BROKER_SERVER_CERTIFICATE_FILE, BROKER_SERVER_KEY_FILE,
  loadBrokerTlsIdentity, type BrokerTlsIdentityOptions,
} from './broker-tls-identity.ts';

const run = promisify(execFile);
const DAY_MS = 86_400_000;
const FILES = [BROKER_ROOT_CA_FILE, BROKER_ROOT_CA_KEY_FILE, BROKER_SERVER_CERTIFICATE_FILE, BROKER_SERVER_KEY_FILE];

const certificatesIn = (pem: string): X509Certificate[] =>
  (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? []).map((block) => new X509Certificate(block));

describe('loadBrokerTlsIdentity, generated (no TRUSTGATE_TLS_* files)', () => {
  let dataDir: string;
  let options: BrokerTlsIdentityOptions;
  beforeEach(async () => {
    dataDir = join(await mkdtemp(join(tmpdir(), 'trustgate-tls-')), 'data');
    options = { dataDir, certFile: undefined, keyFile: undefined, hostnames: ['localhost', '127.0.0.1'] };
  });
  afterEach(async () => { await rm(join(dataDir, '..'), { recursive: true, force: true }); });

  const snapshot = async () => Object.fromEntries(await Promise.all(FILES.map(async (f) => [f, await readFile(join(dataDir, f), 'utf8')] as const)));

  test('the first start creates the data dir, a root CA and a server certificate; keys are 0600', async () => {
    const identity = await loadBrokerTlsIdentity(options);
    assert.equal(identity.source, 'generated');
    assert.deepEqual((await readdir(dataDir)).sort(), [...FILES].sort(), 'no temporary files left behind');
    for (const file of [BROKER_ROOT_CA_KEY_FILE, BROKER_SERVER_KEY_FILE]) {
      assert.equal((await stat(join(dataDir, file))).mode & 0o777, 0o600, `${file} is 0600`);
    }
    assert.equal((await stat(dataDir)).mode & 0o077, 0, 'the data dir is private');

    const root = new X509Certificate(await readFile(join(dataDir, BROKER_ROOT_CA_FILE)));
    assert.equal(identity.rootCaPem, await readFile(join(dataDir, BROKER_ROOT_CA_FILE), 'utf8'));
    assert.ok(root.ca);
    assert.match(root.subject, /^CN=trustgate broker root CA [0-9a-f]{8}$/);
    assert.ok(root.validToDate.getTime() - Date.now() > 3649 * DAY_MS, 'root valid for 10 years');

    const [leaf, chainedRoot, ...rest] = certificatesIn(identity.certificateChainPem);
    assert.equal(rest.length, 0);
    assert.equal(chainedRoot?.fingerprint256, root.fingerprint256, 'chain = server certificate + root');
    assert.ok(leaf!.checkIssued(root) && leaf!.verify(root.publicKey));
    assert.equal(leaf!.fingerprint256, new X509Certificate(await readFile(join(dataDir, BROKER_SERVER_CERTIFICATE_FILE))).fingerprint256);
    assert.deepEqual(subjectAltNames(leaf!.toString()), ['127.0.0.1', 'localhost']);
    assert.ok(leaf!.validToDate.getTime() - Date.now() > 364 * DAY_MS, 'server certificate valid for a year');
    assert.equal(identity.privateKeyPem, await readFile(join(dataDir, BROKER_SERVER_KEY_FILE), 'utf8'));
    assert.ok(leaf!.checkPrivateKey(createPrivateKey(identity.privateKeyPem)));
    assert.equal(identity.notes.length, 2, identity.notes.join('\n'));
    assert.match(identity.notes[0]!, /created the broker root CA/);
    assert.match(identity.notes[1]!, /issued the broker server certificate .* none existed/);
  });

  test('a second start reuses every file byte for byte and returns the same identity', async () => {
    const first = await loadBrokerTlsIdentity(options);
    const before = await snapshot();
    const second = await loadBrokerTlsIdentity(options);
    assert.deepEqual(await snapshot(), before);
    assert.deepEqual({ ...second, notes: [] }, { ...first, notes: [] });
    assert.deepEqual(second.notes, []);
  });

  test('changed host names reissue the server certificate (same key) but keep the root', async () => {
    const first = await loadBrokerTlsIdentity(options);
    const before = await snapshot();
    const second = await loadBrokerTlsIdentity({ ...options, hostnames: ['broker.example.com', '10.0.0.7'] });
    const after = await snapshot();
    assert.equal(after[BROKER_ROOT_CA_FILE], before[BROKER_ROOT_CA_FILE]);
    assert.equal(after[BROKER_ROOT_CA_KEY_FILE], before[BROKER_ROOT_CA_KEY_FILE]);
    assert.equal(after[BROKER_SERVER_KEY_FILE], before[BROKER_SERVER_KEY_FILE]);
    assert.notEqual(after[BROKER_SERVER_CERTIFICATE_FILE], before[BROKER_SERVER_CERTIFICATE_FILE]);
    assert.equal(second.rootCaPem, first.rootCaPem);
    assert.deepEqual(subjectAltNames(after[BROKER_SERVER_CERTIFICATE_FILE]!), ['10.0.0.7', 'broker.example.com']);
    assert.deepEqual(second.hostnames, ['broker.example.com', '10.0.0.7'], 'TRUSTGATE_HOSTNAMES in their order: the first is the one to show');
    assert.match(second.notes.join('\n'), /host names \(127\.0\.0\.1, localhost\) differ from TRUSTGATE_HOSTNAMES \(10\.0\.0\.7, broker\.example\.com\)/);
    // Same names in another order or case: nothing to do.
    const third = await loadBrokerTlsIdentity({ ...options, hostnames: ['10.0.0.7', 'Broker.Example.com'] });
    assert.deepEqual(third.notes, []);
    assert.equal((await snapshot())[BROKER_SERVER_CERTIFICATE_FILE], after[BROKER_SERVER_CERTIFICATE_FILE]);
  });

  test('a server certificate that expires within 30 days is reissued', async () => {
    await loadBrokerTlsIdentity(options);
    const before = await snapshot();
    const later = new Date(Date.now() + 340 * DAY_MS);
    const identity = await loadBrokerTlsIdentity({ ...options, now: later });
    assert.match(identity.notes.join('\n'), /expires on/);
    const leaf = new X509Certificate((await snapshot())[BROKER_SERVER_CERTIFICATE_FILE]!);
    assert.ok(leaf.validToDate.getTime() > later.getTime() + 364 * DAY_MS);
    assert.equal((await snapshot())[BROKER_ROOT_CA_FILE], before[BROKER_ROOT_CA_FILE]);
  });

  test('a server certificate not issued by the current root is reissued', async () => {
    await loadBrokerTlsIdentity(options);
    const otherRoot = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'other' }, key: 'p256', validityDays: 10, now: new Date() });
    const keyPem = await readFile(join(dataDir, BROKER_SERVER_KEY_FILE), 'utf8');
    const foreign = await issueServerCertificate({ issuer: otherRoot, hostnames: ['localhost', '127.0.0.1'], validityDays: 365, now: new Date(), privateKeyPem: keyPem });
    await writeFile(join(dataDir, BROKER_SERVER_CERTIFICATE_FILE), foreign.certificatePem);
    const identity = await loadBrokerTlsIdentity(options);
    assert.match(identity.notes.join('\n'), /not issued by the current broker root CA/);
    const root = new X509Certificate(identity.rootCaPem!);
    assert.ok(certificatesIn(identity.certificateChainPem)[0]!.verify(root.publicKey));
  });

  test('concurrent first starts agree on one root', async () => {
    const identities = await Promise.all(Array.from({ length: 6 }, () => loadBrokerTlsIdentity(options)));
    const roots = new Set(identities.map((identity) => identity.rootCaPem));
    assert.equal(roots.size, 1);
    assert.equal([...roots][0], await readFile(join(dataDir, BROKER_ROOT_CA_FILE), 'utf8'));
    assert.equal(new Set(identities.map((identity) => identity.privateKeyPem)).size, 1, 'one server key');
    assert.deepEqual((await readdir(dataDir)).sort(), [...FILES].sort());
    assert.equal(identities.filter((identity) => identity.notes.some((n) => n.startsWith('created the broker root CA'))).length, 1);
  });

  test('concurrent first starts in separate processes agree on one root', async () => {
    const script = `
      import { loadBrokerTlsIdentity } from ${JSON.stringify(join(import.meta.dirname, 'broker-tls-identity.ts'))};
      const identity = await loadBrokerTlsIdentity(${JSON.stringify(options)});
      process.stdout.write(JSON.stringify({ root: identity.rootCaPem, key: identity.privateKeyPem }));`;
    const results = await Promise.all(Array.from({ length: 4 }, () =>
      run(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '--eval', script])));
    const answers = results.map(({ stdout }) => JSON.parse(stdout) as { root: string; key: string });
    assert.equal(new Set(answers.map((a) => a.root)).size, 1, 'one root');
    assert.equal(answers[0]!.root, await readFile(join(dataDir, BROKER_ROOT_CA_FILE), 'utf8'));
    assert.equal(new Set(answers.map((a) => a.key)).size, 1, 'one server key');
    assert.deepEqual((await readdir(dataDir)).sort(), [...FILES].sort());
    const identity = await loadBrokerTlsIdentity(options);
    assert.deepEqual(identity.notes, [], 'whichever server certificate won matches the key on disk');
  });

  test('a root key whose certificate is missing (a crash between the two files) is certified again', async () => {
    const first = await loadBrokerTlsIdentity(options);
    await unlink(join(dataDir, BROKER_ROOT_CA_FILE));
    const started = Date.now();
    const identity = await loadBrokerTlsIdentity(options);
    assert.ok(Date.now() - started >= 1500, 'a fresh key may belong to a start in progress: it waits for that start first');
    // A key left over from long ago is certified at once.
    await unlink(join(dataDir, BROKER_ROOT_CA_FILE));
    await utimes(join(dataDir, BROKER_ROOT_CA_KEY_FILE), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const startedAgain = Date.now();
    await loadBrokerTlsIdentity(options);
    assert.ok(Date.now() - startedAgain < 1500, `no wait for an old key (${Date.now() - startedAgain} ms)`);
    assert.match(identity.notes.join('\n'), /certified the existing broker root CA key/);
    const oldRoot = new X509Certificate(first.rootCaPem!);
    const newRoot = new X509Certificate(identity.rootCaPem!);
    assert.ok(newRoot.publicKey.equals(oldRoot.publicKey), 'same root key');
    assert.equal(newRoot.subject, oldRoot.subject, 'same name: agents holding the old root still verify the server');
    assert.ok(!identity.notes.some((note) => note.startsWith('issued')), 'the server certificate is still issued by "the" root');
    assert.ok(certificatesIn(identity.certificateChainPem)[0]!.verify(oldRoot.publicKey));
  });

  test('a root certificate without its key is refused, not silently replaced', async () => {
    await loadBrokerTlsIdentity(options);
    await unlink(join(dataDir, BROKER_ROOT_CA_KEY_FILE));
    await assert.rejects(loadBrokerTlsIdentity(options), (error: Error) => {
      assert.match(error.message, /broker-root-ca\.pem exists but its private key .*broker-root-ca\.key does not/);
      assert.match(error.message, /move broker-root-ca\.pem and broker-root-ca\.key away/);
      return true;
    });
  });

  for (const file of FILES) {
    test(`a corrupt ${file} gives a clear error naming it`, async () => {
      await loadBrokerTlsIdentity(options);
      const path = join(dataDir, file);
      const text = await readFile(path, 'utf8');
      // A certificate whose base64 got damaged, or a key file that holds something else.
      await writeFile(path, file.endsWith('.pem') ? text.replace(/\n[A-Za-z0-9+/]{8}/, '\n!!!!!!!!') : 'not a key\n');
      await assert.rejects(loadBrokerTlsIdentity(options), (error: Error) => {
        assert.ok(error.message.includes(path), `names ${path}: ${error.message}`);
        assert.match(error.message, /holds a damaged PEM certificate|holds no readable PEM private key/);
        assert.match(error.message, /Restore it from a backup|issued again at the next start/);
        return true;
      });
    });
  }

  test('a root key that does not belong to the root certificate is refused', async () => {
    await loadBrokerTlsIdentity(options);
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await writeFile(join(dataDir, BROKER_ROOT_CA_KEY_FILE), otherKey);
    await assert.rejects(loadBrokerTlsIdentity(options), /broker-root-ca\.key is not the private key of .*broker-root-ca\.pem/);
  });
});

describe('loadBrokerTlsIdentity, operator files (TRUSTGATE_TLS_CERT_FILE, TRUSTGATE_TLS_KEY_FILE)', () => {
  let dir: string;
  let certFile: string;
  let keyFile: string;
  let chain: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-own-tls-'));
    const root = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'Operator CA' }, key: 'p256', validityDays: 100, now: new Date() });
    const server = await issueServerCertificate({ issuer: root, hostnames: ['mqtt.example.com'], validityDays: 90, now: new Date() });
    chain = server.certificatePem + root.certificatePem;
    certFile = join(dir, 'tls.crt');
    keyFile = join(dir, 'tls.key');
    await writeFile(certFile, chain);
    await writeFile(keyFile, server.privateKeyPem);
  });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  test('uses the files as given and generates nothing in the data dir', async () => {
    const dataDir = join(dir, 'data');
    const identity = await loadBrokerTlsIdentity({ dataDir, certFile, keyFile, hostnames: ['localhost'] });
    assert.equal(identity.source, 'files');
    assert.equal(identity.rootCaPem, undefined);
    assert.equal(identity.issuer, 'CN=Operator CA', 'the CA agents must trust instead, named in GET /broker-ca.pem\'s 404');
    assert.equal(identity.certificateChainPem, chain);
    assert.match(identity.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.deepEqual(identity.notes, []);
    assert.deepEqual(identity.hostnames, ['mqtt.example.com'], 'the names agents may connect with are the certificate\'s, not TRUSTGATE_HOSTNAMES');
    await assert.rejects(stat(dataDir), { code: 'ENOENT' });
  });

  test('a key that does not match the certificate is refused, naming the key file', async () => {
    await writeFile(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await assert.rejects(loadBrokerTlsIdentity({ dataDir: dir, certFile, keyFile, hostnames: ['localhost'] }), (error: Error) => {
      assert.equal(error.message.split('\n').length, 1);
      assert.match(error.message, new RegExp(`^TRUSTGATE_TLS_KEY_FILE ${keyFile} does not match the certificate in ${certFile} \\(CN=mqtt\\.example\\.com\\)`));
      return true;
    });
    await writeFile(keyFile, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await assert.rejects(loadBrokerTlsIdentity({ dataDir: dir, certFile, keyFile, hostnames: ['localhost'] }), /TRUSTGATE_TLS_KEY_FILE .* does not match/);
  });

  test('unreadable, missing or encrypted files are refused, naming the file', async () => {
    const load = () => loadBrokerTlsIdentity({ dataDir: dir, certFile, keyFile, hostnames: ['localhost'] });
    await writeFile(certFile, 'hello');
    await assert.rejects(load(), new RegExp(`^Error: TRUSTGATE_TLS_CERT_FILE ${certFile} holds no PEM certificate`));
    await writeFile(certFile, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await assert.rejects(load(), new RegExp(`TRUSTGATE_TLS_CERT_FILE ${certFile}: certificate 1 is not a readable X\\.509 certificate`));
    await writeFile(certFile, chain);
    await writeFile(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }));
    await assert.rejects(load(), new RegExp(`TRUSTGATE_TLS_KEY_FILE ${keyFile} holds no readable PEM private key \\(it is encrypted`));
    await rm(keyFile);
    await assert.rejects(load(), new RegExp(`TRUSTGATE_TLS_KEY_FILE ${keyFile} cannot be read: ENOENT`));
  });

  test('an expired certificate is used, with a warning note', async () => {
    const identity = await loadBrokerTlsIdentity({ dataDir: dir, certFile, keyFile, hostnames: ['localhost'], now: new Date(Date.now() + 91 * DAY_MS) });
    assert.match(identity.notes.join('\n'), /^warning: TRUSTGATE_TLS_CERT_FILE .* expired on/);
  });

  test('only one of the two files is refused', async () => {
    await assert.rejects(loadBrokerTlsIdentity({ dataDir: dir, certFile, keyFile: undefined, hostnames: ['localhost'] }), /must be set together/);
  });
});
