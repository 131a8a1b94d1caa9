import { resolve } from 'node:path';
import type { Command } from 'commander';
import { isKeyOfCertificate, KEY_TYPE_NAMES, readCsr, type CheckedCsr, type IssuedCertificate } from '../pki/index.ts';
import { isDomainError, showName } from '../shared/index.ts';
import { CliError, EXIT } from './cli-error.ts';
import { findBrokerAddress } from './broker-address.ts';
import { globalsOf, outputOf, serverUrlOf } from './cli-context.ts';
import { checkAgentName, parseDays, parseKeyType, parseTenant, parseWholeNumber } from './cli-options.ts';
import { agentFilePaths, clientIdOf, issueAgentFiles, type IssuedAgent } from './issue-agent-files.ts';
import { prepareOutputs, readCertificateFile, readInputFile, readPrivateKeyFile } from './local-files.ts';
import { startProgress } from './progress.ts';

interface AgentIssueOptions {
  name?: string;
  count?: string;
  prefix?: string;
  caCert: string;
  caKey: string;
  tenant: string;
  keyType?: string;
  csr?: string;
  days: string;
  outDir: string;
  force?: boolean;
}

const MAX_COUNT = 1_000_000;

/** The CA and its key, checked to belong together and to be able to issue now. */
const readIssuer = async (options: AgentIssueOptions): Promise<IssuedCertificate> => {
  const certificate = await readCertificateFile(options.caCert, '--ca-cert');
  const privateKeyPem = await readPrivateKeyFile(options.caKey, '--ca-key');
  if (!isKeyOfCertificate(certificate.pem, privateKeyPem)) {
    throw new CliError(`--ca-key ${options.caKey} is not the private key of --ca-cert ${options.caCert} (their public keys differ); pass the key that was created with this CA`, EXIT.dataError);
  }
  if (certificate.basicConstraints?.isCa !== true) {
    throw new CliError(`--ca-cert ${options.caCert} is not a CA certificate (no basicConstraints CA:TRUE); create one with: trustgate ca create --tenant ${options.tenant}`, EXIT.dataError);
  }
  if (certificate.notAfter.getTime() <= Date.now()) {
    throw new CliError(`--ca-cert ${options.caCert} expired on ${certificate.notAfter.toISOString()}; certificates it issues would be refused`, EXIT.dataError);
  }
  return { certificatePem: certificate.pem, privateKeyPem };
};

const readCsrFile = async (path: string): Promise<CheckedCsr> => {
  const text = await readInputFile(path, '--csr');
  try {
    return await readCsr(text);
  } catch (error) {
    if (!isDomainError(error)) throw error;
    throw new CliError(`--csr ${path}: ${error.message} (${error.code})`, EXIT.dataError, { cause: error });
  }
};

/** The agents' names: --name, the CSR's CN, or --prefix1..--prefixN. */
const namesOf = (options: AgentIssueOptions, csr: CheckedCsr | undefined): string[] => {
  if (options.count === undefined) {
    if (options.prefix !== undefined) throw new CliError('--prefix goes with --count; for one agent use --name', EXIT.usage);
    const name = options.name ?? csr?.commonName;
    if (name === undefined) throw new CliError(`--name is required${options.csr ? ` (the CSR ${options.csr} has no CN)` : ''}: the agent certificate's CN, e.g. --name pump-1`, EXIT.usage);
    if (options.name === undefined) {
      return [checkAgentName('--name', name, `the CN of --csr ${options.csr} (${showName(name)}; give another with --name)`)];
    }
    return [checkAgentName('--name', name)];
  }
  const count = parseWholeNumber('--count', options.count, 1, MAX_COUNT);
  if (options.name !== undefined) throw new CliError('--count issues --prefix1..--prefixN; drop --name', EXIT.usage);
  if (options.csr !== undefined) throw new CliError('--csr signs one device\'s request; it does not go with --count', EXIT.usage);
  if (options.prefix === undefined) throw new CliError('--count needs --prefix, e.g. --count 100 --prefix pump- issues pump-1 .. pump-100', EXIT.usage);
  // Names differ only in their number: the longest shows every problem a prefix can have.
  const longest = `${options.prefix}${count}`;
  checkAgentName('--prefix', longest, `--prefix ${JSON.stringify(options.prefix)} makes names like ${JSON.stringify(longest)}, which`);
  return Array.from({ length: count }, (_, i) => `${options.prefix}${i + 1}`);
};

// `trustgate agent issue`: agent certificates from the tenant's own CA, locally (no server, no
// OpenSSL), ready for mosquitto_pub, MQTT.js or paho.
export const addAgentIssueCommand = (agent: Command): void => {
  agent.command('issue')
    .description('issue agent certificates locally from your CA (no server needed): <name>.key, <name>.pem, <name>-chain.pem, <name>.clientid')
    .option('--name <name>', 'the agent\'s name: the certificate\'s CN (client id <tenant>_<name>)')
    .option('--count <n>', 'issue n agents, named <prefix>1..<prefix>n, with a progress bar')
    .option('--prefix <prefix>', 'name prefix for --count')
    .requiredOption('--ca-cert <file>', 'your CA certificate (PEM), registered and verified with "trustgate ca register"')
    .requiredOption('--ca-key <file>', 'the CA\'s private key (PEM)')
    .requiredOption('--tenant <tenant>', 'your tenant (the client id is <tenant>_<name>)')
    .option('--key-type <type>', 'key of the agent: p256 (default), p384, rsa2048, rsa3072, rsa4096')
    .option('--csr <file>', 'sign this device\'s CSR (PEM) instead of generating a key: the key stays on the device')
    .option('--days <days>', 'validity in days (never past the CA\'s own expiry)', '365')
    .option('--out-dir <dir>', 'where to write the files', '.')
    .option('--force', 'overwrite existing files')
    .action(async (options: AgentIssueOptions, command: Command) => {
      const output = outputOf(command);
      const tenant = parseTenant(options.tenant);
      const validityDays = parseDays(options.days);
      if (options.csr !== undefined && options.keyType !== undefined) throw new CliError('--key-type and --csr exclude each other: with a CSR the device made the key', EXIT.usage);
      const keyType = parseKeyType(options.keyType ?? 'p256');
      // A bad name is a usage error, told before any file is read.
      if (options.name !== undefined) checkAgentName('--name', options.name);
      const issuer = await readIssuer(options);
      const csr = options.csr === undefined ? undefined : await readCsrFile(options.csr);
      const names = namesOf(options, csr);
      if (csr?.commonName !== undefined && csr.commonName !== names[0]) output.note(`note: the CSR asks for CN "${csr.commonName}"; the certificate gets CN "${names[0]}" (--name)`);
      const force = options.force === true;
      await prepareOutputs(options.outDir, names.flatMap((name) => Object.values(agentFilePaths(options.outDir, name, csr === undefined)).filter((p) => p !== null)), force);

      const progress = startProgress(names.length, 'issuing', { isJson: output.isJson });
      const startedAt = performance.now();
      let agents: IssuedAgent[];
      try {
        agents = await issueAgentFiles({ issuer, tenant, names, keyType, csr, validityDays, outDir: options.outDir, force, progress });
      } finally {
        progress.stop();
      }
      const elapsedMs = performance.now() - startedAt;
      const keyDescription = csr ? 'key from the CSR' : KEY_TYPE_NAMES[keyType];

      if (options.count === undefined) {
        const [issued] = agents;
        const files = agentFilePaths(options.outDir, issued!.name, csr === undefined);
        // Only people read the connect line: --json does not wait for the server.
        // The files are written: a malformed --url must not fail the command now, only leave placeholders.
        let baseUrl: string | undefined;
        try {
          baseUrl = serverUrlOf(globalsOf(command));
        } catch {
          baseUrl = undefined;
        }
        const broker = output.isJson || baseUrl === undefined ? undefined : await findBrokerAddress(baseUrl);
        output.result({ tenant, keyType: csr ? null : keyType, ...issued }, () => [
          `issued agent certificate "${issued!.name}" (${keyDescription}, valid until ${issued!.notAfter.slice(0, 10)}); client id ${issued!.clientId}`,
          ...(files.key ? [`  private key  ${files.key} (mode 0600: keep it on the agent)`] : []),
          `  certificate  ${files.certificate}`,
          `  chain        ${files.chain} (certificate + CA)`,
          `  client id    ${files.clientId}`,
          `connect: mosquitto_pub --cafile broker-ca.pem --cert ${files.certificate} --key ${files.key ?? '<the device key>'} -i ${issued!.clientId} -t tc/${tenant}/${issued!.clientId}/o/hello -m hi `
            + `-h ${broker?.host ?? '<broker host>'} -p ${broker?.port ?? '<broker port>'}`,
          broker === undefined
            ? '  (broker-ca.pem: trustgate broker-ca --out broker-ca.pem; if the broker has its own TLS certificate (TRUSTGATE_TLS_CERT_FILE), the CA that issued it instead;'
              + ` the broker's host and port: trustgate serve at ${baseUrl ?? 'the --url'} did not answer, set --url or TRUSTGATE_URL to ask it)`
            : broker.hasGeneratedRootCa
              ? '  (broker-ca.pem: trustgate broker-ca --out broker-ca.pem)'
              : '  (broker-ca.pem: the CA that issued the broker\'s own TLS certificate (TRUSTGATE_TLS_CERT_FILE); trustgate broker-ca names it)',
        ]);
        return;
      }
      const perSecond = agents.length / (elapsedMs / 1000);
      output.result({
        tenant, keyType, count: agents.length, elapsedMs: Math.round(elapsedMs), perSecond: Math.round(perSecond * 10) / 10,
        outDir: resolve(options.outDir), agents,
      }, () => [
        `issued ${agents.length} agent certificates ${names[0]} .. ${names.at(-1)} (${keyDescription}) in ${(elapsedMs / 1000).toFixed(1)} s (${perSecond.toFixed(1)} per second)`,
        `  files in ${options.outDir}: <name>.key (0600), <name>.pem, <name>-chain.pem, <name>.clientid; client ids ${clientIdOf(tenant, names[0]!)} ..`,
      ]);
    });
};
