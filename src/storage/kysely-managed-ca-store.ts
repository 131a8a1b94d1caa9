import type { Kysely, Selectable } from 'kysely';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import { keyVerifiedByOtherTenant, type ManagedCaCertificate, type ManagedCaRecord, type ManagedCaStore } from '../registry/index.ts';
import { runTransaction } from './run-transaction.ts';
import type { PrivateKeySealer } from './private-key-sealer.ts';
import type { Database, ManagedCaCertificatesTable } from './tables.ts';
import { uniqueViolation } from './translate-driver-error.ts';

const toCertificate = (row: Selectable<ManagedCaCertificatesTable>): ManagedCaCertificate => ({
  id: row.id as CaCertificateId,
  tenant: row.tenant_id as TenantId,
  certificatePem: row.certificate_pem,
  subject: row.subject,
  fingerprintSha256: row.fingerprint_sha256,
  publicKeySha256: row.public_key_sha256,
  notBefore: new Date(row.not_before),
  notAfter: new Date(row.not_after),
  createdAt: new Date(row.created_at),
});

// The sealed key is bound to its row: copied to another tenant's row it does not open.
const sealingContext = (tenant: string, id: string): string => `managed CA private key\0${tenant}\0${id}`;

export class KyselyManagedCaStore implements ManagedCaStore {
  readonly #db: Kysely<Database>;
  readonly #sealer: PrivateKeySealer;

  constructor(db: Kysely<Database>, sealer: PrivateKeySealer) {
    this.#db = db;
    this.#sealer = sealer;
  }

  async find(tenant: TenantId): Promise<ManagedCaCertificate | undefined> {
    const row = await this.#db.selectFrom('managed_ca_certificates').selectAll().where('tenant_id', '=', tenant).executeTakeFirst();
    return row && toCertificate(row);
  }

  async findForSigning(tenant: TenantId): Promise<ManagedCaRecord | undefined> {
    const row = await this.#db.selectFrom('managed_ca_certificates').selectAll().where('tenant_id', '=', tenant).executeTakeFirst();
    return row && this.#withKey(row);
  }

  async insertIfAbsent(record: ManagedCaRecord): Promise<ManagedCaRecord> {
    try {
      // The key is claimed in the same transaction, like a verified upload's (one tenant per CA
      // key, managed CAs included: docs/architecture.md, invariants): no other tenant can verify it as an uploaded CA later.
      await runTransaction(this.#db, async (trx) => {
        const claim = await trx.selectFrom('ca_key_claims').select('tenant_id').where('public_key_sha256', '=', record.publicKeySha256).executeTakeFirst();
        // A freshly generated key is nobody's; a claim here means the key is not fresh.
        if (claim && claim.tenant_id !== record.tenant) throw keyVerifiedByOtherTenant();
        if (!claim) {
          await trx.insertInto('ca_key_claims').values({ public_key_sha256: record.publicKeySha256, tenant_id: record.tenant, claimed_at: record.createdAt.toISOString() }).execute();
        }
        await trx.insertInto('managed_ca_certificates').values({
          id: record.id,
          tenant_id: record.tenant,
          certificate_pem: record.certificatePem,
          private_key_sealed: this.#sealer.seal(record.privateKeyPem, sealingContext(record.tenant, record.id)),
          subject: record.subject,
          fingerprint_sha256: record.fingerprintSha256,
          public_key_sha256: record.publicKeySha256,
          not_before: record.notBefore.toISOString(),
          not_after: record.notAfter.toISOString(),
          created_at: record.createdAt.toISOString(),
        }).execute();
      });
      return record;
    } catch (error) {
      // A concurrent first use of this tenant stored its CA first: that one is the tenant's.
      if (uniqueViolation(error) === undefined) throw error;
      const winner = await this.findForSigning(record.tenant);
      if (!winner) throw error;
      return winner;
    }
  }

  async findByPublicKey(publicKeySha256: string): Promise<ManagedCaCertificate | undefined> {
    const row = await this.#db.selectFrom('managed_ca_certificates').selectAll().where('public_key_sha256', '=', publicKeySha256).executeTakeFirst();
    return row && toCertificate(row);
  }

  /**
   * At start: opens one stored managed CA key (any one: all are sealed with one key) with this
   * store's sealer. 'none' without a managed CA; throws the sealer's error when it does not open.
   */
  async checkSealingKey(): Promise<'none' | 'opens'> {
    const row = await this.#db.selectFrom('managed_ca_certificates').selectAll().orderBy('created_at').limit(1).executeTakeFirst();
    if (!row) return 'none';
    this.#withKey(row);
    return 'opens';
  }

  async listAll(): Promise<ManagedCaCertificate[]> {
    return (await this.#db.selectFrom('managed_ca_certificates').selectAll().execute()).map(toCertificate);
  }

  #withKey(row: Selectable<ManagedCaCertificatesTable>): ManagedCaRecord {
    const privateKeyPem = this.#sealer.open(row.private_key_sealed, sealingContext(row.tenant_id, row.id));
    return { ...toCertificate(row), privateKeyPem };
  }
}
