import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { publishOnce, publishReplacing, readOptional } from '../files/index.ts';
import {
  brokerRootCaProfile, derToPem, generateKeyPair, issueCertificate, issueServerCertificate, normalizeHostname, parsePemBlocks, subjectAltNames,
} from '../pki/index.ts';

// The broker's own TLS identity: the operator's certificate files, or a server certificate issued
// by a broker root CA generated in the data dir. See docs/decisions/0006-broker-tls-identity.md.

export const BROKER_ROOT_CA_FILE = 'broker-root-ca.pem';
export const BROKER_ROOT_CA_KEY_FILE = 'broker-root-ca.key';
export const BROKER_SERVER_CERTIFICATE_FILE = 'broker-server.pem';
export const BROKER_SERVER_KEY_FILE = 'broker-server.key';
export const ROOT_CA_VALIDITY_DAYS = 3650;
export const SERVER_CERTIFICATE_VALIDITY_DAYS = 365;
export const RENEW_BEFORE_DAYS = 30;

export interface BrokerTlsIdentity {
  /** Leaf first, then the rest of the chain: the TLS server's `cert`. */
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  /** The generated broker root CA that agents must trust; undefined with the operator's files. */
  readonly rootCaPem: string | undefined;
  readonly source: 'generated' | 'files';
  /** The issuer of the server certificate (one line, e.g. "CN=Plant CA, O=Plant"): what agents must trust. */
  readonly issuer: string;
  /** The DNS names and IP addresses agents may connect with: TRUSTGATE_HOSTNAMES, or the own certificate's. */
  readonly hostnames: readonly string[];
  /** One line per thing worth logging: what was created or reissued and why, or a warning. */
  readonly notes: readonly string[];
}

export interface BrokerTlsIdentityOptions {
  readonly dataDir: string;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly hostnames: readonly string[];
  readonly now?: Date;
}

const DAY_MS = 86_400_000;
// How long a start that finds a root key without its certificate waits for a concurrent start to
// link the certificate, before it concludes that start crashed and certifies the key itself.
const ROOT_CERTIFICATE_WAIT_MS = 2000;
const POLL_MS = 50;

const readCertificates = (text: string, describe: string): X509Certificate[] => {
  const blocks = parsePemBlocks(text).filter((block) => block.label === 'CERTIFICATE');
  if (blocks.length === 0) {
    throw new Error(text.includes('-----BEGIN CERTIFICATE-----')
      ? `${describe} holds a damaged PEM certificate (the text between BEGIN and END is not base64)`
      : `${describe} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block.der);
    } catch (cause) {
      throw new Error(`${describe}: certificate ${index + 1} is not a readable X.509 certificate`, { cause });
    }
  });
};

const readPrivateKey = (text: string, describe: string): KeyObject => {
  try {
    return createPrivateKey(text);
  } catch (cause) {
    const encrypted = /ENCRYPTED/.test(text) ? ' (it is encrypted; give an unencrypted key)' : '';
    throw new Error(`${describe} holds no readable PEM private key${encrypted}`, { cause });
  }
};

const belongTogether = (certificate: X509Certificate, key: KeyObject): boolean => {
  try {
    return certificate.checkPrivateKey(key);
  } catch {
    return false; // e.g. an RSA key against an EC certificate
  }
};

const chainPem = (certificates: readonly X509Certificate[]): string =>
  certificates.map((certificate) => derToPem(certificate.raw)).join('');

const day = (date: Date): string => date.toISOString().slice(0, 10);

// TRUSTGATE_TLS_CERT_FILE / TRUSTGATE_TLS_KEY_FILE: the operator's own chain, used as given.
const loadOwnFiles = async (certFile: string, keyFile: string, now: Date): Promise<BrokerTlsIdentity> => {
  const certDescription = `TRUSTGATE_TLS_CERT_FILE ${certFile}`;
  const keyDescription = `TRUSTGATE_TLS_KEY_FILE ${keyFile}`;
  const read = async (path: string, describe: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch (cause) {
      throw new Error(`${describe} cannot be read: ${(cause as Error).message}`, { cause });
    }
  };
  const certificates = readCertificates(await read(certFile, certDescription), certDescription);
  const key = readPrivateKey(await read(keyFile, keyDescription), keyDescription);
  const leaf = certificates[0]!;
  if (!belongTogether(leaf, key)) {
    throw new Error(`${keyDescription} does not match the certificate in ${certFile} (${leaf.subject.replace(/\n/g, ', ')}): the key file must hold the private key of the first certificate`);
  }
  const notes: string[] = [];
  if (leaf.validToDate.getTime() <= now.getTime()) {
    notes.push(`warning: ${certDescription} expired on ${day(leaf.validToDate)}; agents will refuse the broker`);
  } else if (leaf.validToDate.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) {
    notes.push(`warning: ${certDescription} expires on ${day(leaf.validToDate)}; renew it`);
  }
  return {
    certificateChainPem: chainPem(certificates),
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    rootCaPem: undefined,
    source: 'files',
    issuer: leaf.issuer.replace(/\n/g, ', '),
    hostnames: subjectAltNames(leaf.toString()),
    notes,
  };
};

interface RootCa {
  readonly certificate: X509Certificate;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

const ROOT_RECOVERY = `Restore it from a backup, or move ${BROKER_ROOT_CA_FILE} and ${BROKER_ROOT_CA_KEY_FILE} away to generate a new root (agents must then be given the new one: trustgate broker-ca)`;
const SERVER_RECOVERY = `Delete ${BROKER_SERVER_CERTIFICATE_FILE} and ${BROKER_SERVER_KEY_FILE}: they are issued again at the next start`;

// Runs a read and appends what the operator can do about a failure to its message.
const withHint = <T>(read: () => T, hint: string): T => {
  try {
    return read();
  } catch (error) {
    throw new Error(`${(error as Error).message}. ${hint}.`, { cause: error });
  }
};

const readRootCa = (certificateText: string, keyText: string, certPath: string, keyPath: string): RootCa => withHint(() => {
  const certificates = readCertificates(certificateText, certPath);
  const key = readPrivateKey(keyText, keyPath);
  const certificate = certificates[0]!;
  if (certificates.length !== 1 || !certificate.ca) throw new Error(`${certPath} must hold exactly one CA certificate`);
  if (!belongTogether(certificate, key)) throw new Error(`${keyPath} is not the private key of ${certPath}`);
  return {
    certificate,
    certificatePem: derToPem(certificate.raw),
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}, ROOT_RECOVERY);

const newEcPrivateKeyPem = async (): Promise<string> => (await generateKeyPair('p256')).privateKeyPem;

// A suffix from the key tells the roots of different installations apart in trust stores and
// logs, and stays the same when a lost root certificate is certified again from its key: agents
// holding the old certificate (same name, same key) still verify the server.
const rootCommonName = (privateKeyPem: string): string => {
  const spki = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
  return `trustgate broker root CA ${createHash('sha256').update(spki).digest('hex').slice(0, 8)}`;
};

// The root is created once per data dir and never replaced automatically: agents trust it.
const loadOrCreateRootCa = async (dataDir: string, now: Date, notes: string[]): Promise<RootCa> => {
  const certPath = join(dataDir, BROKER_ROOT_CA_FILE);
  const keyPath = join(dataDir, BROKER_ROOT_CA_KEY_FILE);
  const waitUntil = Date.now() + ROOT_CERTIFICATE_WAIT_MS;
  for (let attempt = 0; attempt < 1000; attempt++) {
    const [certificateText, keyText] = await Promise.all([readOptional(certPath), readOptional(keyPath)]);
    if (certificateText !== undefined && keyText !== undefined) return readRootCa(certificateText, keyText, certPath, keyPath);
    if (certificateText !== undefined) {
      throw new Error(`${certPath} exists but its private key ${keyPath} does not. ${ROOT_RECOVERY}.`);
    }
    if (keyText === undefined) {
      // The key file decides who wins a concurrent first start; the loser reads the winner's root.
      const privateKeyPem = await newEcPrivateKeyPem();
      const root = await issueCertificate(brokerRootCaProfile, { subject: { CN: rootCommonName(privateKeyPem) }, key: { privateKeyPem }, validityDays: ROOT_CA_VALIDITY_DAYS, now });
      if (await publishOnce(keyPath, root.privateKeyPem, 0o600)) {
        await publishOnce(certPath, root.certificatePem, 0o644);
        notes.push(`created the broker root CA ${certPath}; agents must trust it (trustgate broker-ca, or GET /broker-ca.pem)`);
      }
      continue;
    }
    // A key without its certificate: a concurrent start is between its two links, or crashed there.
    // A key older than the wait cannot belong to a start still in progress.
    const keyAgeMs = Date.now() - (await stat(keyPath)).mtimeMs;
    if (Date.now() < waitUntil && keyAgeMs < ROOT_CERTIFICATE_WAIT_MS) {
      await sleep(POLL_MS);
      continue;
    }
    const existingKeyPem = withHint(() => readPrivateKey(keyText, keyPath), ROOT_RECOVERY).export({ type: 'pkcs8', format: 'pem' }).toString();
    const root = await issueCertificate(brokerRootCaProfile, { subject: { CN: rootCommonName(existingKeyPem) }, key: { privateKeyPem: existingKeyPem }, validityDays: ROOT_CA_VALIDITY_DAYS, now });
    if (await publishOnce(certPath, root.certificatePem, 0o644)) {
      notes.push(`certified the existing broker root CA key ${keyPath} again, as ${certPath} was missing`);
    }
  }
  throw new Error(`${certPath} and ${keyPath} keep changing while trustgate starts; is another program writing them?`);
};

const loadOrCreateServerKey = async (path: string): Promise<KeyObject> => {
  for (;;) {
    const text = await readOptional(path);
    if (text !== undefined) {
      return withHint(() => readPrivateKey(text, path), SERVER_RECOVERY);
    }
    await publishOnce(path, await newEcPrivateKeyPem(), 0o600);
  }
};

// Why the server certificate on disk must be issued again, or undefined if it is still good.
const reissueReason = (certificate: X509Certificate, root: RootCa, key: KeyObject, hostnames: readonly string[], now: Date): string | undefined => {
  if (!certificate.checkIssued(root.certificate) || !certificate.verify(root.certificate.publicKey)) {
    return 'it was not issued by the current broker root CA';
  }
  if (!belongTogether(certificate, key)) return `it does not match ${BROKER_SERVER_KEY_FILE}`;
  const wanted = [...new Set(hostnames.map(normalizeHostname))].sort();
  const present = subjectAltNames(certificate.toString());
  if (wanted.join(',') !== present.join(',')) {
    return `its host names (${present.join(', ')}) differ from TRUSTGATE_HOSTNAMES (${wanted.join(', ')})`;
  }
  if (certificate.validToDate.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) return `it expires on ${day(certificate.validToDate)}`;
  if (certificate.validFromDate.getTime() > now.getTime()) return `it is not valid before ${certificate.validFromDate.toISOString()} (did the clock go back?)`;
  return undefined;
};

const loadOrIssueGenerated = async (dataDir: string, hostnames: readonly string[], now: Date): Promise<BrokerTlsIdentity> => {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const notes: string[] = [];
  const root = await loadOrCreateRootCa(dataDir, now, notes);
  const rootPath = join(dataDir, BROKER_ROOT_CA_FILE);
  if (root.certificate.validToDate.getTime() <= now.getTime()) {
    throw new Error(`the broker root CA ${rootPath} expired on ${day(root.certificate.validToDate)}. Move ${BROKER_ROOT_CA_FILE} and ${BROKER_ROOT_CA_KEY_FILE} away to generate a new root, and give agents the new one (trustgate broker-ca)`);
  }
  if (root.certificate.validToDate.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) {
    notes.push(`warning: the broker root CA ${rootPath} expires on ${day(root.certificate.validToDate)}; plan a new root for the agents`);
  }

  const keyPath = join(dataDir, BROKER_SERVER_KEY_FILE);
  const certificatePath = join(dataDir, BROKER_SERVER_CERTIFICATE_FILE);
  // The server key is created once and kept; reissuing changes only the certificate, so two
  // starts that reissue at the same time both certify the same key and either file is right.
  const key = await loadOrCreateServerKey(keyPath);
  const privateKeyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const existingText = await readOptional(certificatePath);
  let certificate = existingText === undefined
    ? undefined
    : withHint(() => readCertificates(existingText, certificatePath)[0]!, SERVER_RECOVERY);
  const reason = certificate === undefined ? 'none existed' : reissueReason(certificate, root, key, hostnames, now);
  if (reason !== undefined) {
    const issued = await issueServerCertificate({
      issuer: root, hostnames, validityDays: SERVER_CERTIFICATE_VALIDITY_DAYS, now, notAfterCap: root.certificate.validToDate, privateKeyPem,
    });
    await publishReplacing(certificatePath, issued.certificatePem, 0o644);
    certificate = new X509Certificate(issued.certificatePem);
    notes.push(`issued the broker server certificate ${certificatePath} for ${hostnames.join(', ')}: ${reason}`);
  }
  return {
    certificateChainPem: chainPem([certificate!, root.certificate]),
    privateKeyPem,
    rootCaPem: root.certificatePem,
    source: 'generated',
    issuer: root.certificate.subject.replace(/\n/g, ', '),
    hostnames: [...new Set(hostnames.map(normalizeHostname))],
    notes,
  };
};

export const loadBrokerTlsIdentity = async ({ dataDir, certFile, keyFile, hostnames, now = new Date() }: BrokerTlsIdentityOptions): Promise<BrokerTlsIdentity> => {
  if (certFile && keyFile) return loadOwnFiles(certFile, keyFile, now);
  if (certFile || keyFile) throw new Error('TRUSTGATE_TLS_CERT_FILE and TRUSTGATE_TLS_KEY_FILE must be set together');
  return loadOrIssueGenerated(dataDir, hostnames, now);
};
