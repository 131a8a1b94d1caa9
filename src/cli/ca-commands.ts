import type { Command } from 'commander';
import {
  agentCertificateProfile, isKeyOfCertificate, issueCertificate, VERIFICATION_CERTIFICATE_VALIDITY_DAYS, type Certificate,
} from '../pki/index.ts';
import { ApiError, type ApiClient } from './api-client.ts';
import { addCaCreateCommand } from './ca-create-command.ts';
import { addRevocationCommands } from './revocation-commands.ts';
import { CliError, EXIT } from './cli-error.ts';
import { connectApi, outputOf } from './cli-context.ts';
import { readCertificateFile, readPrivateKeyFile } from './local-files.ts';
import { expiryTime, formatFields, formatTable, shortTime } from './output.ts';

// `trustgate ca register|verify|list|show|delete`: the caCertificates API, with the proof of
// possession made locally so the CA's private key never leaves this machine.

interface CaResource {
  id: string;
  name: string;
  description?: string;
  commonName: string | null;
  subject: string;
  expiration: string;
  notBefore: string;
  fingerprint: string;
  isVerified: boolean;
  createdAt: string;
  verifiedAt: string | null;
}

interface CaFiles {
  cert: string;
  key: string;
  tenant?: string;
}

const TENANT_HELP = 'tenant to mint a dev token for, when no --token or TRUSTGATE_TOKEN is given';

/** The CA certificate and its private key, checked to belong together before anything is sent. */
const readCaFiles = async ({ cert, key }: CaFiles): Promise<{ certificate: Certificate; privateKeyPem: string }> => {
  const certificate = await readCertificateFile(cert, '--cert');
  const privateKeyPem = await readPrivateKeyFile(key, '--key');
  if (!isKeyOfCertificate(certificate.pem, privateKeyPem)) {
    throw new CliError(`--key ${key} is not the private key of --cert ${cert} (their public keys differ); pass the key that was created with this certificate`, EXIT.dataError);
  }
  return { certificate, privateKeyPem };
};

// Registration code → verification certificate (CN = code, signed by the CA key, made here) → verify.
const proveAndVerify = async (api: ApiClient, id: string, certificate: Certificate, privateKeyPem: string): Promise<CaResource> => {
  const { registrationCode } = await api.get<{ registrationCode: string }>(`/caCertificates/${id}/registrationCode`);
  let verificationCertificate: string;
  try {
    verificationCertificate = (await issueCertificate(agentCertificateProfile, {
      subject: { CN: registrationCode },
      key: 'p256',
      issuer: { certificatePem: certificate.pem, privateKeyPem },
      validityDays: VERIFICATION_CERTIFICATE_VALIDITY_DAYS,
      now: new Date(),
    })).certificatePem;
  } catch (cause) {
    throw new CliError(`cannot sign the verification certificate with this key: ${(cause as Error).message}`, EXIT.dataError, { cause });
  }
  return api.post<CaResource>(`/caCertificates/${id}/verify`, { verificationCertificate });
};

// Verification refusals no retry can turn around: the key is another tenant's (or trustgate's own).
const NEVER_VERIFIABLE_CODES: ReadonlySet<string | undefined> = new Set(['verification.keyVerifiedByOtherTenant', 'caCertificate.keyOfManagedCa']);
const isNeverVerifiable = (error: unknown): error is ApiError => error instanceof ApiError && NEVER_VERIFIABLE_CODES.has(error.code);
const freeSlotHint = (id: string): string => `it can never be verified in this tenant: free its CA slot with "trustgate ca delete ${id}"`;

/** An upload that can never be verified takes one of the tenant's CA slots: the one this run made is deleted again. */
const withdrawUpload = async (api: ApiClient, id: string, refusal: ApiError): Promise<CliError> => {
  try {
    await api.delete(`/caCertificates/${encodeURIComponent(id)}`);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return new CliError(`${refusal.message}; ${freeSlotHint(id)} (deleting it failed: ${why})`, refusal.exitCode, { cause: refusal });
  }
  return new CliError(`${refusal.message}; it can never be verified in this tenant, so its upload ${id} was deleted again (no CA slot is taken)`, refusal.exitCode, { cause: refusal });
};

const verifiedLines = (resource: CaResource, note: string): string[] => [
  `${note} CA certificate "${resource.name}" as ${resource.id}: isVerified ${resource.isVerified}`,
  ...formatFields([['  subject', resource.subject], ['  expires', shortTime(resource.expiration)], ['  fingerprint', resource.fingerprint]]),
];

const findByFingerprint = async (api: ApiClient, fingerprint: string): Promise<CaResource | undefined> =>
  (await api.get<CaResource[]>('/caCertificates')).find((resource) => resource.fingerprint === fingerprint);

const addRegisterCommand = (ca: Command): void => {
  ca.command('register')
    .description('upload a CA certificate, prove possession of its key with a verification certificate made locally, and verify it: one step, the key stays here')
    .requiredOption('--cert <file>', 'the CA certificate (PEM)')
    .requiredOption('--key <file>', 'its private key (PEM); used locally, never sent')
    .option('--name <name>', 'a name for the CA certificate, 1-128 characters (default: its CN)')
    .option('--description <text>', 'a description')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (options: CaFiles & { name?: string; description?: string }, command: Command) => {
      const output = outputOf(command);
      const { certificate, privateKeyPem } = await readCaFiles(options);
      const name = options.name ?? certificate.subjectCommonNames[0] ?? certificate.subject;
      if (name.length < 1 || name.length > 128) throw new CliError(`--name must be 1-128 characters, not ${name.length}`, EXIT.usage);
      const api = await connectApi(command, options.tenant);

      let uploaded: CaResource;
      let wasUploaded = true;
      try {
        uploaded = await api.post<CaResource>('/caCertificates', { name, caCertificate: certificate.pem, ...(options.description ? { description: options.description } : {}) });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'caCertificate.limitReached') {
          throw new CliError(`${error.message}; see them with "trustgate ca list", remove one with "trustgate ca delete <id>"`, error.exitCode, { cause: error });
        }
        // Running it again after a failed verification resumes where it stopped.
        const existing = error instanceof ApiError && error.code === 'caCertificate.duplicate' ? await findByFingerprint(api, certificate.fingerprintSha256) : undefined;
        if (!existing) throw error;
        uploaded = existing;
        wasUploaded = false;
      }
      if (uploaded.isVerified) {
        output.result({ ...uploaded, alreadyRegistered: true }, () => verifiedLines(uploaded, 'already registered'));
        return;
      }
      output.note(wasUploaded ? `uploaded as ${uploaded.id}; verifying with a verification certificate signed by ${options.key}…` : `already uploaded as ${uploaded.id}, not verified yet; verifying…`);
      let verified: CaResource;
      try {
        verified = await proveAndVerify(api, uploaded.id, certificate, privateKeyPem);
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        if (isNeverVerifiable(error)) {
          // "once fixed, run: ca verify" would never succeed; an upload of an earlier run or of the API is left to its owner.
          throw wasUploaded ? await withdrawUpload(api, uploaded.id, error) : new CliError(`${error.message}; ${freeSlotHint(uploaded.id)}`, error.exitCode, { cause: error });
        }
        const retry = `trustgate ca verify --id ${uploaded.id} --cert ${options.cert} --key ${options.key}`;
        throw new CliError(`uploaded as ${uploaded.id} but not verified: ${error.message}; once fixed, run: ${retry}`, error.exitCode, { cause: error });
      }
      const tenant = options.tenant ?? '<tenant>';
      output.result({ ...verified, alreadyRegistered: !wasUploaded }, () => [
        ...verifiedLines(verified, 'registered'),
        `agents whose certificates it issues can connect now; next: trustgate agent issue --name <agent> --ca-cert ${options.cert} --ca-key ${options.key} --tenant ${tenant}`,
      ]);
    });
};

const addVerifyCommand = (ca: Command): void => {
  ca.command('verify')
    .description('verify an uploaded CA certificate: registration code, verification certificate made locally, verify')
    .requiredOption('--id <id>', 'the CA certificate\'s id')
    .requiredOption('--cert <file>', 'the CA certificate (PEM)')
    .requiredOption('--key <file>', 'its private key (PEM); used locally, never sent')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (options: CaFiles & { id: string }, command: Command) => {
      const output = outputOf(command);
      const { certificate, privateKeyPem } = await readCaFiles(options);
      const api = await connectApi(command, options.tenant);
      const resource = await api.get<CaResource>(`/caCertificates/${encodeURIComponent(options.id)}`);
      if (resource.fingerprint !== certificate.fingerprintSha256) {
        throw new CliError(`CA certificate ${options.id} is not --cert ${options.cert} (fingerprints ${resource.fingerprint} and ${certificate.fingerprintSha256} differ)`, EXIT.dataError);
      }
      if (resource.isVerified) {
        output.result(resource, () => verifiedLines(resource, 'already verified'));
        return;
      }
      let verified: CaResource;
      try {
        verified = await proveAndVerify(api, resource.id, certificate, privateKeyPem);
      } catch (error) {
        if (isNeverVerifiable(error)) throw new CliError(`${error.message}; ${freeSlotHint(resource.id)}`, error.exitCode, { cause: error });
        throw error;
      }
      output.result(verified, () => verifiedLines(verified, 'verified'));
    });
};

export const registerCaCommands = (program: Command): void => {
  const ca = program.command('ca').description('CA certificates: create one locally, register (upload + verify), list, show, delete; revoke certificates it issued, import its CRL');
  addCaCreateCommand(ca);
  addRegisterCommand(ca);
  addVerifyCommand(ca);

  ca.command('list')
    .description('list the tenant\'s CA certificates')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (options: { tenant?: string }, command: Command) => {
      const resources = await (await connectApi(command, options.tenant)).get<CaResource[]>('/caCertificates');
      outputOf(command).result(resources, () => (resources.length === 0
        ? 'no CA certificates; add one with: trustgate ca create --tenant <tenant> && trustgate ca register ...'
        : formatTable(['ID', 'NAME', 'VERIFIED', 'EXPIRES', 'SUBJECT'],
          resources.map((r) => [r.id, r.name, r.isVerified ? 'yes' : 'no', expiryTime(r.expiration), r.subject]))));
    });

  ca.command('show')
    .description('show one CA certificate')
    .argument('<id>', 'the CA certificate\'s id')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (id: string, options: { tenant?: string }, command: Command) => {
      const api = await connectApi(command, options.tenant);
      const r = await api.get<CaResource>(`/caCertificates/${encodeURIComponent(id)}`);
      // Who still uses this CA (issue 15, part 5: during a rollover, wait for 0 before deleting it).
      const agentCount = (await api.get<unknown[]>(`/agents?caCertificateId=${encodeURIComponent(r.id)}`)).length;
      outputOf(command).result({ ...r, agentCount }, () => formatFields([
        ['id', r.id], ['name', r.name], ['description', r.description], ['subject', r.subject], ['commonName', r.commonName],
        ['isVerified', r.isVerified], ['verifiedAt', shortTime(r.verifiedAt)], ['notBefore', shortTime(r.notBefore)],
        ['expiration', expiryTime(r.expiration)], ['fingerprint', r.fingerprint], ['createdAt', shortTime(r.createdAt)],
        ['agents', `${agentCount} agent${agentCount === 1 ? '' : 's'} still use${agentCount === 1 ? 's' : ''} this CA (trustgate agent list --ca ${r.id})`],
      ]));
    });

  ca.command('delete')
    .description('delete a CA certificate: agents whose certificates it issued can no longer connect (live sessions are closed)')
    .argument('<id>', 'the CA certificate\'s id')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (id: string, options: { tenant?: string }, command: Command) => {
      await (await connectApi(command, options.tenant)).delete(`/caCertificates/${encodeURIComponent(id)}`);
      outputOf(command).result({ id, deleted: true }, () => `deleted CA certificate ${id}; agents it issued can no longer connect`);
    });
  addRevocationCommands(ca);
};
