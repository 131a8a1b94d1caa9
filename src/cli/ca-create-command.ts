import { resolve } from 'node:path';
import type { Command } from 'commander';
import { caCertificateProfile, issueCertificate, KEY_TYPE_NAMES, parseCertificatePem } from '../pki/index.ts';
import { CliError, EXIT } from './cli-error.ts';
import { outputOf } from './cli-context.ts';
import { parseDays, parseKeyType, parseTenant } from './cli-options.ts';
import { outputPath, prepareOutputs, writeOutputs } from './local-files.ts';
import { parseSubject } from './parse-subject.ts';

interface CaCreateOptions {
  tenant: string;
  name?: string;
  subject?: string;
  keyType: string;
  days: string;
  outDir: string;
  force?: boolean;
}

const quoteForShell = (text: string): string => (/^[\w./-]+$/.test(text) ? text : `"${text.replace(/(["\\$`])/g, '\\$1')}"`);

const subjectOf = (options: CaCreateOptions, tenant: string): Record<string, string> => {
  if (options.subject === undefined) return { CN: options.name ?? `${tenant} CA` };
  const subject = parseSubject(options.subject);
  if (subject.CN !== undefined && options.name !== undefined && subject.CN !== options.name) {
    throw new CliError(`--name "${options.name}" and the CN of --subject ("${subject.CN}") differ; give the CN once`, EXIT.usage);
  }
  // The CN goes last, where OpenSSL's "/.../CN=" puts it, so names print the familiar way.
  const { CN, ...rest } = subject;
  return { ...rest, CN: CN ?? options.name ?? `${tenant} CA` };
};

// `trustgate ca create`: a key and a self-signed CA certificate that MindConnect and trustgate
// accept (v3, critical CA:TRUE, keyCertSign, SKI), made in-process: no OpenSSL needed.
export const addCaCreateCommand = (ca: Command): void => {
  ca.command('create')
    .description('create a key and a self-signed CA certificate locally (no OpenSSL needed): <tenant>-ca.pem and <tenant>-ca.key')
    .requiredOption('--tenant <tenant>', 'your tenant; names the files and the default CN')
    .option('--name <cn>', 'the CA\'s common name (default: "<tenant> CA")')
    .option('--subject <dn>', 'the full subject as OpenSSL writes it, e.g. "/C=DE/O=Acme/CN=acme CA"')
    .option('--key-type <type>', 'p256, p384, rsa2048, rsa3072 or rsa4096', 'p256')
    .option('--days <days>', 'validity in days', '3650')
    .option('--out-dir <dir>', 'where to write the files', '.')
    .option('--force', 'overwrite existing files')
    .addHelpText('after', '\nThe key file is written with mode 0600; it never leaves this machine (ca register uses it locally).')
    .action(async (options: CaCreateOptions, command: Command) => {
      const output = outputOf(command);
      const tenant = parseTenant(options.tenant);
      const keyType = parseKeyType(options.keyType);
      const validityDays = parseDays(options.days);
      const subject = subjectOf(options, tenant);
      const certificatePath = outputPath(options.outDir, `${tenant}-ca.pem`);
      const keyPath = outputPath(options.outDir, `${tenant}-ca.key`);
      const force = options.force === true;
      await prepareOutputs(options.outDir, [keyPath, certificatePath], force);

      if (keyType.startsWith('rsa')) output.note(`generating an ${KEY_TYPE_NAMES[keyType]} key (a few seconds)…`);
      const issued = await issueCertificate(caCertificateProfile, { subject, key: keyType, validityDays, now: new Date() });
      // The key first: a certificate without its key would be useless, a key without its certificate is re-run with --force.
      await writeOutputs([
        { path: keyPath, content: issued.privateKeyPem, mode: 0o600 },
        { path: certificatePath, content: issued.certificatePem, mode: 0o644 },
      ], force);

      const certificate = parseCertificatePem(issued.certificatePem);
      const subjectText = certificate.subject.replaceAll('\n', ', ');
      const commonName = subject.CN!;
      const next = `trustgate ca register --cert ${quoteForShell(certificatePath)} --key ${quoteForShell(keyPath)} --name ${quoteForShell(commonName)} --tenant ${tenant}`;
      output.result({
        tenant,
        subject: subjectText,
        commonName,
        keyType,
        notBefore: certificate.notBefore.toISOString(),
        notAfter: certificate.notAfter.toISOString(),
        fingerprintSha256: certificate.fingerprintSha256,
        files: { certificate: resolve(certificatePath), key: resolve(keyPath) },
      }, () => [
        `created CA certificate "${subjectText}" (${KEY_TYPE_NAMES[keyType]}, valid until ${certificate.notAfter.toISOString().slice(0, 10)})`,
        `  certificate  ${certificatePath}`,
        `  private key  ${keyPath} (mode 0600: keep it secret, it signs your agents' certificates)`,
        `next: ${next}`,
      ]);
    });
};
