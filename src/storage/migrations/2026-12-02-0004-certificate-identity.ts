import { createHash, X509Certificate } from 'node:crypto';
import type { Kysely, Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 10, findings 1 and 3 (docs/decisions/0013-certificate-identity.md):
// - agent_certificates.serial_number becomes the normalised serial (lowercase hex without leading
//   zeros, as src/pki/der.ts normalizeSerialHex writes it): revocations are loaded by issuer + serial;
// - ca_certificates gets tbs_certificate_sha256, a duplicate-proof identity (the SHA-256 of the
//   signed part) with a unique (tenant_id, tbs_certificate_sha256);
// - managed_ca_certificates gets public_key_sha256, and every managed CA key is claimed in
//   ca_key_claims for its tenant, like a verified uploaded CA's.
// Self-contained on purpose (node:crypto and a few lines of DER): later changes to src/pki must
// not change what this migration did.

const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

const derOfPem = (pem: string): X509Certificate => new X509Certificate(pem);

// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, ... }: the first element inside the outer one.
const tbsCertificateOf = (der: Buffer): Buffer => {
  const headerLength = (offset: number): { contentStart: number; length: number } => {
    const first = der[offset + 1]!;
    if (!(first & 0x80)) return { contentStart: offset + 2, length: first };
    const count = first & 0x7f;
    let length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[offset + 2 + i]!;
    return { contentStart: offset + 2 + count, length };
  };
  const outer = headerLength(0);
  const tbs = headerLength(outer.contentStart);
  return der.subarray(outer.contentStart, tbs.contentStart + tbs.length);
};

// The columns this migration reads and writes, as they are at this point of the history.
interface Schema {
  agent_certificates: { id: string; serial_number: string };
  ca_certificates: { id: string; tenant_id: string; certificate_pem: string; created_at: string; tbs_certificate_sha256: string | null };
  managed_ca_certificates: { id: string; tenant_id: string; certificate_pem: string; created_at: string; public_key_sha256: string };
  ca_key_claims: { public_key_sha256: string; tenant_id: string; claimed_at: string };
}

const normalizeSerialHex = (hex: string): string => hex.toLowerCase().replace(/^0+(?=.)/, '');

export const certificateIdentityMigration: Migration = {
  async up(untyped: Kysely<unknown>): Promise<void> {
    const db = untyped as Kysely<Schema>;
    // Serial numbers as revocation compares them.
    const agentCertificates = await db.selectFrom('agent_certificates').select(['id', 'serial_number']).execute();
    for (const row of agentCertificates) {
      const normalised = normalizeSerialHex(row.serial_number);
      if (normalised !== row.serial_number) {
        await db.updateTable('agent_certificates').set({ serial_number: normalised }).where('id', '=', row.id).execute();
      }
    }
    await db.schema.createIndex('agent_certificates_issuer_serial_idx').on('agent_certificates').columns(['managed_ca_id', 'serial_number']).execute();

    // The tbsCertificate hash of every uploaded CA. A tenant that already holds one certificate
    // twice (its signature re-encoded) keeps both rows; the later one gets NULL, which the unique
    // constraint lets through, so the migration never deletes a tenant's data.
    await db.schema.alterTable('ca_certificates').addColumn('tbs_certificate_sha256', 'varchar(64)').execute();
    const cas = await db.selectFrom('ca_certificates').select(['id', 'tenant_id', 'certificate_pem'])
      .orderBy('created_at').orderBy('id').execute();
    const seen = new Set<string>();
    for (const row of cas) {
      const tbs = sha256Hex(tbsCertificateOf(Buffer.from(derOfPem(row.certificate_pem).raw)));
      const key = `${row.tenant_id}\0${tbs}`;
      if (seen.has(key)) continue;
      seen.add(key);
      await db.updateTable('ca_certificates').set({ tbs_certificate_sha256: tbs }).where('id', '=', row.id).execute();
    }
    await db.schema.createIndex('ca_certificates_tenant_tbs_unique').unique().on('ca_certificates').columns(['tenant_id', 'tbs_certificate_sha256']).execute();

    // Managed CA keys: claimed for their tenant. A claim another tenant already holds (it verified
    // this managed CA's certificate as its own before this rule existed) is left as it is: the
    // broker's trust index then finds the key trusted by two tenants and refuses its certificates,
    // and logs the conflict at start, rather than guess whose agents they are.
    await db.schema.alterTable('managed_ca_certificates').addColumn('public_key_sha256', 'varchar(64)', (c) => c.notNull().defaultTo('')).execute();
    const managed = await db.selectFrom('managed_ca_certificates').select(['id', 'tenant_id', 'certificate_pem', 'created_at']).execute();
    for (const row of managed) {
      const publicKeySha256 = sha256Hex(derOfPem(row.certificate_pem).publicKey.export({ type: 'spki', format: 'der' }));
      await db.updateTable('managed_ca_certificates').set({ public_key_sha256: publicKeySha256 }).where('id', '=', row.id).execute();
      const claim = await db.selectFrom('ca_key_claims').select('tenant_id').where('public_key_sha256', '=', publicKeySha256).executeTakeFirst();
      if (!claim) {
        await db.insertInto('ca_key_claims').values({ public_key_sha256: publicKeySha256, tenant_id: row.tenant_id, claimed_at: row.created_at }).execute();
      }
    }
    await db.schema.createIndex('managed_ca_certificates_public_key_idx').on('managed_ca_certificates').column('public_key_sha256').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('managed_ca_certificates_public_key_idx').execute();
    await db.schema.alterTable('managed_ca_certificates').dropColumn('public_key_sha256').execute();
    await db.schema.dropIndex('ca_certificates_tenant_tbs_unique').execute();
    await db.schema.alterTable('ca_certificates').dropColumn('tbs_certificate_sha256').execute();
    await db.schema.dropIndex('agent_certificates_issuer_serial_idx').execute();
  },
};
