import { basename, dirname, extname } from 'node:path';
import type { Command } from 'commander';
import { createCsr, generateKeyPair, isKeyOfCertificate, KEY_TYPE_NAMES } from '../pki/index.ts';
import { CliError, EXIT } from './cli-error.ts';
import { connectApi, outputOf } from './cli-context.ts';
import { parseKeyType } from './cli-options.ts';
import { outputPath, prepareOutputs, readCertificateFile, readPrivateKeyFile, writeOutputs, type OutputFile } from './local-files.ts';

// `trustgate agent renew`: renews an agent certificate of the tenant's managed CA that is on disk,
// over the API (POST /agentCertificates/{id}/renew, the same use case and hourly limit as renewal
// over MQTT). The CSR is made here, from the key on disk or a new one (--new-key); the new
// certificate (and key) are written next to the old ones, which stay valid until they expire.

interface AgentRenewOptions {
  cert: string;
  key?: string;
  newKey?: boolean;
  keyType?: string;
  tenant?: string;
  force?: boolean;
}

interface AgentCertificateResource {
  id: string;
  name: string;
  clientId: string;
  fingerprint: string;
  publicKey: string;
  caCertificate: string;
  expiration: string;
  status: string;
}

const TENANT_HELP = 'tenant to mint a dev token for, when no --token or TRUSTGATE_TOKEN is given';

/** `dir/pump-1.pem` -> `dir/pump-1.key`, `dir/pump-1.renewed.pem`, … */
const siblingOf = (certPath: string, suffix: string): string => {
  const stem = basename(certPath, extname(certPath));
  return outputPath(dirname(certPath), `${stem}${suffix}`);
};

export const addAgentRenewCommand = (agent: Command): void => {
  agent.command('renew')
    .description('renew an agent certificate of the tenant\'s managed CA on disk, over the API: <name>.renewed.pem (+ .renewed.key with --new-key) and <name>.renewed-chain.pem next to it; the old one stays valid')
    .requiredOption('--cert <file>', 'the agent certificate to renew (PEM), issued by POST /agentCertificates or an earlier renewal')
    .option('--key <file>', 'its private key, for the CSR (default: the --cert file with .key for its extension)')
    .option('--new-key', 'certify a new key instead (written as <name>.renewed.key, mode 0600)')
    .option('--key-type <type>', 'with --new-key: p256 (default), p384, rsa2048, rsa3072, rsa4096')
    .option('--tenant <tenant>', TENANT_HELP)
    .option('--force', 'overwrite existing .renewed files')
    .action(async (options: AgentRenewOptions, command: Command) => {
      const output = outputOf(command);
      if (options.keyType !== undefined && options.newKey !== true) throw new CliError('--key-type goes with --new-key: the key on disk has its type already', EXIT.usage);
      if (options.key !== undefined && options.newKey === true) throw new CliError('--key and --new-key exclude each other', EXIT.usage);
      const keyType = parseKeyType(options.keyType ?? 'p256');
      const certificate = await readCertificateFile(options.cert, '--cert');
      const files = {
        certificate: siblingOf(options.cert, '.renewed.pem'),
        chain: siblingOf(options.cert, '.renewed-chain.pem'),
        key: options.newKey === true ? siblingOf(options.cert, '.renewed.key') : null,
      };
      let privateKeyPem: string;
      if (options.newKey === true) {
        privateKeyPem = (await generateKeyPair(keyType)).privateKeyPem;
      } else {
        const keyPath = options.key ?? siblingOf(options.cert, '.key');
        privateKeyPem = await readPrivateKeyFile(keyPath, '--key');
        if (!isKeyOfCertificate(certificate.pem, privateKeyPem)) {
          throw new CliError(`--key ${keyPath} is not the private key of --cert ${options.cert}; pass its key with --key, or certify a new one with --new-key`, EXIT.dataError);
        }
      }
      const force = options.force === true;
      await prepareOutputs(dirname(options.cert), Object.values(files).filter((path) => path !== null), force);

      const api = await connectApi(command, options.tenant);
      const record = (await api.get<AgentCertificateResource[]>('/agentCertificates')).find((candidate) => candidate.fingerprint === certificate.fingerprintSha256);
      if (!record) {
        throw new CliError(`--cert ${options.cert} is no agent certificate of this tenant's managed CA ("trustgate agent issue" certificates of your own CA are renewed by issuing again with that CA)`, EXIT.notFound);
      }
      const csrPem = await createCsr({ commonName: record.name, privateKeyPem });
      const renewed = await api.post<AgentCertificateResource>(`/agentCertificates/${encodeURIComponent(record.id)}/renew`, { csr: csrPem });

      const written: OutputFile[] = [
        ...(files.key ? [{ path: files.key, content: privateKeyPem, mode: 0o600 }] : []),
        { path: files.certificate, content: renewed.publicKey, mode: 0o644 },
        { path: files.chain, content: `${renewed.publicKey.trimEnd()}\n${renewed.caCertificate}`, mode: 0o644 },
      ];
      await writeOutputs(written, force);
      output.result({ id: renewed.id, renewalOf: record.id, clientId: renewed.clientId, notAfter: renewed.expiration, files }, () => [
        `renewed agent certificate "${renewed.name}" (${options.newKey === true ? `new ${KEY_TYPE_NAMES[keyType]} key` : 'same key'}, valid until ${renewed.expiration.slice(0, 10)}); id ${renewed.id}, client id ${renewed.clientId}`,
        ...(files.key ? [`  private key  ${files.key} (mode 0600: keep it on the agent)`] : []),
        `  certificate  ${files.certificate}`,
        `  chain        ${files.chain} (certificate + CA)`,
        `the old certificate (${record.id}) stays valid until it expires; revoke it with DELETE /agentCertificates/${record.id} once the agent uses the new one`,
      ]);
    });
};
