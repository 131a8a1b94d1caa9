import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { agentCertificateProfile, issueCertificate, type CheckedCsr, type IssuedCertificate, type KeyType } from '../pki/index.ts';
import { outputPath, writeOutputs } from './local-files.ts';
import type { Progress } from './progress.ts';

// Issues agent certificates locally and writes, per agent, what a device needs: its key (0600,
// unless it sent a CSR), its certificate, the chain (certificate + CA, as the MindConnect how-to
// concatenates them) and its client id.

export interface AgentFiles {
  readonly key: string | null;
  readonly certificate: string;
  readonly chain: string;
  readonly clientId: string;
}

export interface IssuedAgent {
  readonly name: string;
  readonly clientId: string;
  readonly notAfter: string;
  readonly fingerprintSha256: string;
  readonly files: AgentFiles;
}

export interface IssueAgentFilesOptions {
  readonly issuer: IssuedCertificate;
  readonly tenant: string;
  readonly names: readonly string[];
  readonly keyType: KeyType;
  readonly csr: CheckedCsr | undefined;
  readonly validityDays: number;
  readonly outDir: string;
  readonly force: boolean;
  readonly progress: Progress;
}

// Key generation and signing run on libuv's thread pool; a few in flight keep it busy while this
// thread encodes certificates and writes files.
const CONCURRENCY = 8;

export const agentFilePaths = (outDir: string, name: string, withKey: boolean): AgentFiles => ({
  key: withKey ? outputPath(outDir, `${name}.key`) : null,
  certificate: outputPath(outDir, `${name}.pem`),
  chain: outputPath(outDir, `${name}-chain.pem`),
  clientId: outputPath(outDir, `${name}.clientid`),
});

/** MindConnect: the client id is exactly <tenant>_<CN of the agent certificate>. */
export const clientIdOf = (tenant: string, name: string): string => `${tenant}_${name}`;

const issueOne = async (options: IssueAgentFilesOptions, name: string): Promise<IssuedAgent> => {
  const { issuer, tenant, keyType, csr, validityDays, outDir, force } = options;
  const issued = await issueCertificate(agentCertificateProfile, { subject: { CN: name }, key: csr ?? keyType, issuer, validityDays, now: new Date() });
  const files = agentFilePaths(outDir, name, issued.privateKeyPem !== undefined);
  const clientId = clientIdOf(tenant, name);
  await writeOutputs([
    ...(files.key && issued.privateKeyPem ? [{ path: files.key, content: issued.privateKeyPem, mode: 0o600 }] : []),
    { path: files.certificate, content: issued.certificatePem, mode: 0o644 },
    { path: files.chain, content: issued.certificatePem + issuer.certificatePem, mode: 0o644 },
    // No trailing newline: programs that read the file as the client id get exactly the id.
    { path: files.clientId, content: clientId, mode: 0o644 },
  ], force);
  const certificate = new X509Certificate(issued.certificatePem);
  return {
    name,
    clientId,
    notAfter: certificate.validToDate.toISOString(),
    fingerprintSha256: certificate.fingerprint256.replaceAll(':', '').toLowerCase(),
    files: {
      key: files.key && resolve(files.key),
      certificate: resolve(files.certificate),
      chain: resolve(files.chain),
      clientId: resolve(files.clientId),
    },
  };
};

/** Issues one agent per name, in order; stops at the first failure. */
export const issueAgentFiles = async (options: IssueAgentFilesOptions): Promise<IssuedAgent[]> => {
  const results: IssuedAgent[] = new Array(options.names.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < options.names.length) {
      const index = next++;
      try {
        results[index] = await issueOne(options, options.names[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
      options.progress.advance();
    }
  };
  const workers = Array.from({ length: Math.min(CONCURRENCY, options.names.length) }, worker);
  const settled = await Promise.allSettled(workers);
  const rejection = settled.find((outcome) => outcome.status === 'rejected');
  if (rejection) throw rejection.reason;
  return results;
};
