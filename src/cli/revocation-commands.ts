import type { Command } from 'commander';
import { normalizeSerialHex } from '../pki/index.ts';
import { CliError, EXIT } from './cli-error.ts';
import { connectApi, outputOf } from './cli-context.ts';
import { readCertificateFile, readInputFile } from './local-files.ts';
import { formatFields, formatTable, shortTime } from './output.ts';

// `trustgate ca revoke|unrevoke|revocations|crl`: revocation by issuer + serial number for the
// certificates of an uploaded CA (docs/revocation.md), without curl and jq.

interface RevokedCertificate {
  serialNumber: string;
  reason: string;
  revokedAt: string;
}

interface CrlState {
  thisUpdate: string;
  nextUpdate: string | null;
  crlNumber: string | null;
  entryCount: number;
  importedAt: string;
  stale: boolean;
}

const TENANT_HELP = 'tenant to mint a dev token for, when no --token or TRUSTGATE_TOKEN is given';
// RFC 5280 §5.3.1 (removeFromCRL is a delta-CRL entry, not a reason to revoke with).
const REASONS = ['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn', 'aACompromise'];

// The API's body limit for a CRL (about 200,000 entries).
const CRL_MAX_BYTES = 8 * 1024 * 1024;

const caPath = (caId: string): string => `/caCertificates/${encodeURIComponent(caId)}`;

/** The serial as `openssl x509 -serial` prints it (colons, case and leading zeros are ignored), or read from --cert. */
const serialOf = async (options: { serial?: string; cert?: string }): Promise<string> => {
  if ((options.serial === undefined) === (options.cert === undefined)) {
    throw new CliError('give exactly one of --serial <hex> (as openssl x509 -noout -serial prints it) or --cert <file> (the agent certificate to revoke)', EXIT.usage);
  }
  if (options.cert !== undefined) return (await readCertificateFile(options.cert, '--cert')).serialNumber;
  const raw = options.serial!.trim().replace(/^serial=/i, '').replaceAll(':', '');
  if (!/^[0-9a-fA-F]{1,64}$/.test(raw)) throw new CliError(`--serial must be a hexadecimal serial number (1-64 digits, colons allowed), not "${options.serial}"`, EXIT.usage);
  return normalizeSerialHex(raw);
};

const crlLines = (crl: CrlState): string[] => formatFields([
  ['thisUpdate', shortTime(crl.thisUpdate)], ['nextUpdate', crl.nextUpdate ? shortTime(crl.nextUpdate) : 'none'],
  ['crlNumber', crl.crlNumber ?? 'none'], ['entries', crl.entryCount], ['importedAt', shortTime(crl.importedAt)],
  ['stale', crl.stale ? 'yes: past nextUpdate, still enforced; import a newer CRL' : 'no'],
]);

export const addRevocationCommands = (ca: Command): void => {
  ca.command('revoke')
    .description('revoke a certificate the CA issued, by serial number: its sessions close at once, its connects are refused')
    .argument('<ca-id>', 'the CA certificate\'s id')
    .option('--serial <hex>', 'the serial number, as openssl x509 -noout -serial prints it')
    .option('--cert <file>', 'or the certificate itself (PEM): its serial number is read from it')
    .option('--reason <reason>', `RFC 5280 reason: ${REASONS.join(', ')}`, 'unspecified')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (caId: string, options: { serial?: string; cert?: string; reason: string; tenant?: string }, command: Command) => {
      if (!REASONS.includes(options.reason)) throw new CliError(`--reason must be one of ${REASONS.join(', ')}, not "${options.reason}"`, EXIT.usage);
      const serialNumber = await serialOf(options);
      const api = await connectApi(command, options.tenant);
      const revoked = await api.post<RevokedCertificate>(`${caPath(caId)}/revokedCertificates`, { serialNumber, reason: options.reason });
      outputOf(command).result(revoked, () => `revoked serial ${revoked.serialNumber} of CA ${caId} (${revoked.reason}) at ${shortTime(revoked.revokedAt)}; its sessions are closed`);
    });

  ca.command('unrevoke')
    .description('lift a certificateHold revocation (other reasons are final)')
    .argument('<ca-id>', 'the CA certificate\'s id')
    .option('--serial <hex>', 'the serial number, as openssl x509 -noout -serial prints it')
    .option('--cert <file>', 'or the certificate itself (PEM)')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (caId: string, options: { serial?: string; cert?: string; tenant?: string }, command: Command) => {
      const serialNumber = await serialOf(options);
      await (await connectApi(command, options.tenant)).delete(`${caPath(caId)}/revokedCertificates/${serialNumber}`);
      outputOf(command).result({ caCertificateId: caId, serialNumber, lifted: true }, () => `lifted the hold on serial ${serialNumber} of CA ${caId}; it can connect again`);
    });

  ca.command('revocations')
    .description('list the certificates of a CA revoked through the API (the imported CRL: trustgate ca crl <ca-id>)')
    .argument('<ca-id>', 'the CA certificate\'s id')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (caId: string, options: { tenant?: string }, command: Command) => {
      const revoked = await (await connectApi(command, options.tenant)).get<RevokedCertificate[]>(`${caPath(caId)}/revokedCertificates`);
      outputOf(command).result(revoked, () => (revoked.length === 0
        ? `no certificates of CA ${caId} are revoked through the API (trustgate ca crl ${caId} shows its CRL)`
        : formatTable(['SERIAL', 'REASON', 'REVOKED'], revoked.map((r) => [r.serialNumber, r.reason, shortTime(r.revokedAt)]))));
    });

  ca.command('crl')
    .description('show the CA\'s imported CRL, or import one (--import crl.pem, as openssl ca -gencrl writes it)')
    .argument('<ca-id>', 'the CA certificate\'s id')
    .option('--import <file>', 'a PEM CRL signed by this CA: replaces the imported one, enforced at once')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (caId: string, options: { import?: string; tenant?: string }, command: Command) => {
      const api = await connectApi(command, options.tenant);
      const crl = options.import === undefined
        ? await api.get<CrlState>(`${caPath(caId)}/crl`)
        : await api.request<CrlState>('PUT', `${caPath(caId)}/crl`, { crl: await readInputFile(options.import, '--import', CRL_MAX_BYTES) });
      outputOf(command).result(crl, () => [options.import === undefined ? `CRL of CA ${caId}:` : `imported ${options.import} for CA ${caId}:`, ...crlLines(crl)]);
    });
};
