import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CrlRevocation {
  /** Hex, any case. */
  readonly serial: string;
  /** An openssl reason name (keyCompromise, certificateHold, …); none = no reason extension. */
  readonly reason?: string;
}

export interface OpensslCrlOptions {
  readonly caCertificatePem: string;
  readonly caPrivateKeyPem: string;
  readonly revoked: readonly CrlRevocation[];
  /** The cRLNumber; none = a CRL without one. */
  readonly crlNumber?: number;
  /** thisUpdate (openssl -crl_lastupdate); default now. */
  readonly thisUpdate?: Date;
  /** nextUpdate (openssl -crl_nextupdate); default thisUpdate + 1 day. */
  readonly nextUpdate?: Date;
}

const asn1Time = (date: Date): string => `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
const shortAsn1Time = (date: Date): string => asn1Time(date).slice(2);

/**
 * A CRL made by the real OpenSSL CLI, as a tenant's own CA makes it: `openssl ca -gencrl` over an
 * index.txt that lists the revoked serials (written directly: revoking 10,000 certificates one
 * `openssl ca -revoke` at a time would take minutes).
 */
export const opensslCrl = async (options: OpensslCrlOptions): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'trustgate-crl-'));
  try {
    const expiry = shortAsn1Time(new Date(Date.now() + 365 * 86_400_000));
    const revokedAt = shortAsn1Time(new Date(Date.now() - 60_000));
    const lines = options.revoked.map(({ serial, reason }, index) => {
      const hex = serial.replaceAll(':', '').toUpperCase();
      const even = hex.length % 2 === 1 ? `0${hex}` : hex;
      return `R\t${expiry}\t${revokedAt}${reason ? `,${reason}` : ''}\t${even}\tunknown\t/CN=revoked-${index}\n`;
    });
    await writeFile(join(dir, 'index.txt'), lines.join(''));
    await writeFile(join(dir, 'index.txt.attr'), 'unique_subject = no\n');
    if (options.crlNumber !== undefined) await writeFile(join(dir, 'crlnumber'), `${options.crlNumber.toString(16).toUpperCase().padStart(2, '0')}\n`);
    await writeFile(join(dir, 'ca.pem'), options.caCertificatePem);
    await writeFile(join(dir, 'ca.key'), options.caPrivateKeyPem, { mode: 0o600 });
    await writeFile(join(dir, 'ca.cnf'), [
      '[ ca ]', 'default_ca = tenant_ca', '[ tenant_ca ]', `dir = ${dir}`, 'database = $dir/index.txt',
      ...(options.crlNumber === undefined ? [] : ['crlnumber = $dir/crlnumber']),
      'certificate = $dir/ca.pem', 'private_key = $dir/ca.key', 'default_md = sha256', 'default_crl_days = 1', '',
    ].join('\n'));
    const thisUpdate = options.thisUpdate ?? new Date();
    const nextUpdate = options.nextUpdate ?? new Date(thisUpdate.getTime() + 86_400_000);
    await run('openssl', [
      'ca', '-gencrl', '-batch', '-config', join(dir, 'ca.cnf'), '-out', join(dir, 'crl.pem'),
      '-crl_lastupdate', asn1Time(thisUpdate), '-crl_nextupdate', asn1Time(nextUpdate),
    ], { maxBuffer: 16 * 1024 * 1024 });
    return await readFile(join(dir, 'crl.pem'), 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};
