import type { Kysely, Selectable, Transaction } from 'kysely';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import {
  caCertificateLimitReached, duplicateCaCertificate, keyVerifiedByOtherTenant, type AuditEntry,
  type CaCertificateRecord, type CaCertificateStore, type NewCaCertificateRecord,
} from '../registry/index.ts';
import type { CaCertificatesTable, Database } from './tables.ts';
import { runTransaction } from './run-transaction.ts';
import { writeAuditEvent } from './audit-event-rows.ts';
import { precompile, type Precompiled } from './precompiled-query.ts';
import { uniqueViolation } from './translate-driver-error.ts';

const toRecord = (row: Selectable<CaCertificatesTable>): CaCertificateRecord => ({
  id: row.id as CaCertificateId,
  tenant: row.tenant_id as TenantId,
  name: row.name,
  description: row.description ?? undefined,
  certificatePem: row.certificate_pem,
  subject: row.subject,
  commonName: row.common_name ?? undefined,
  fingerprintSha256: row.fingerprint_sha256,
  tbsCertificateSha256: row.tbs_certificate_sha256 ?? undefined,
  publicKeySha256: row.public_key_sha256,
  subjectKeyId: row.subject_key_id ?? undefined,
  notBefore: new Date(row.not_before),
  notAfter: new Date(row.not_after),
  registrationCode: row.registration_code,
  isVerified: Boolean(row.is_verified),
  createdAt: new Date(row.created_at),
  verifiedAt: row.verified_at === null ? undefined : new Date(row.verified_at),
});

// A racing insert that loses a slot retries; more attempts than slots cannot be needed.
const MAX_INSERT_ATTEMPTS = 8;

export class KyselyCaCertificateStore implements CaCertificateStore {
  readonly #db: Kysely<Database>;
  // The REST reads, compiled once (precompiled-query.ts): building and compiling the SELECT was
  // about a twentieth of a GET /caCertificates' CPU.
  readonly #listQuery: Precompiled<[TenantId], Selectable<CaCertificatesTable>>;
  readonly #findQuery: Precompiled<[TenantId, CaCertificateId], Selectable<CaCertificatesTable>>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
    this.#listQuery = precompile(1, (tenant: TenantId) => db.selectFrom('ca_certificates').selectAll()
      .where('tenant_id', '=', tenant).orderBy('created_at').orderBy('id'));
    this.#findQuery = precompile(2, (tenant: TenantId, id: CaCertificateId) => db.selectFrom('ca_certificates').selectAll()
      .where('tenant_id', '=', tenant).where('id', '=', id));
  }

  async insert(record: NewCaCertificateRecord, maxPerTenant: number, audit?: AuditEntry): Promise<CaCertificateRecord> {
    for (let attempt = 1; ; attempt++) {
      try {
        // READ COMMITTED suffices: the unique (tenant_id, slot) constraint decides a race for a slot.
        return await runTransaction(this.#db, async (trx) => {
          const held = await trx.selectFrom('ca_certificates').select(['slot', 'tbs_certificate_sha256'])
            .where('tenant_id', '=', record.tenant).execute();
          // The signed part, not the DER bytes: a re-encoded signature makes the same certificate (decision 0013).
          if (held.some((row) => row.tbs_certificate_sha256 === record.tbsCertificateSha256)) throw duplicateCaCertificate();
          const taken = new Set(held.map((row) => row.slot));
          const slot = Array.from({ length: maxPerTenant }, (_, i) => i + 1).find((s) => !taken.has(s));
          if (slot === undefined || held.length >= maxPerTenant) throw caCertificateLimitReached(maxPerTenant);
          const row = await trx.insertInto('ca_certificates').values({
            id: record.id,
            tenant_id: record.tenant,
            slot,
            name: record.name,
            description: record.description ?? null,
            certificate_pem: record.certificatePem,
            subject: record.subject,
            common_name: record.commonName ?? null,
            fingerprint_sha256: record.fingerprintSha256,
            tbs_certificate_sha256: record.tbsCertificateSha256 ?? null,
            public_key_sha256: record.publicKeySha256,
            subject_key_id: record.subjectKeyId ?? null,
            not_before: record.notBefore.toISOString(),
            not_after: record.notAfter.toISOString(),
            registration_code: record.registrationCode,
            is_verified: 0,
            created_at: record.createdAt.toISOString(),
            verified_at: null,
          }).returningAll().executeTakeFirstOrThrow();
          await writeAuditEvent(trx, audit);
          return toRecord(row);
        });
      } catch (error) {
        const violated = uniqueViolation(error);
        if (violated === undefined) throw error;
        // ca_certificates_tenant_tbs_unique (PostgreSQL) or "...tbs_certificate_sha256" (SQLite), and the older fingerprint constraint.
        if (violated.includes('tbs') || violated.includes('fingerprint')) throw duplicateCaCertificate();
        // Lost the race for a slot to a concurrent upload: look again.
        if (attempt >= MAX_INSERT_ATTEMPTS) throw caCertificateLimitReached(maxPerTenant);
      }
    }
  }

  async list(tenant: TenantId): Promise<CaCertificateRecord[]> {
    const { rows } = await this.#db.executeQuery(this.#listQuery(tenant));
    return rows.map(toRecord);
  }

  async listAll(): Promise<CaCertificateRecord[]> {
    return (await this.#db.selectFrom('ca_certificates').selectAll().execute()).map(toRecord);
  }

  async find(tenant: TenantId, id: CaCertificateId): Promise<CaCertificateRecord | undefined> {
    const row = (await this.#db.executeQuery(this.#findQuery(tenant, id))).rows[0];
    return row && toRecord(row);
  }

  async remove(tenant: TenantId, id: CaCertificateId, audit?: AuditEntry): Promise<CaCertificateRecord | undefined> {
    // Serializable: whether the key claim goes depends on what this transaction read, and a
    // concurrent markVerified of another CA with the same key must not leave a verified CA unclaimed.
    return runTransaction(this.#db, async (trx) => {
      const row = await trx.deleteFrom('ca_certificates')
        .where('tenant_id', '=', tenant).where('id', '=', id).returningAll().executeTakeFirst();
      if (!row) return undefined;
      const stillVerified = await trx.selectFrom('ca_certificates').select('id')
        .where('tenant_id', '=', tenant).where('public_key_sha256', '=', row.public_key_sha256)
        .where('is_verified', '=', 1).executeTakeFirst();
      // A managed CA's key stays claimed by its tenant whatever happens to uploaded copies.
      const isManagedKey = await trx.selectFrom('managed_ca_certificates').select('id')
        .where('public_key_sha256', '=', row.public_key_sha256).executeTakeFirst();
      if (!stillVerified && !isManagedKey) {
        await trx.deleteFrom('ca_key_claims')
          .where('public_key_sha256', '=', row.public_key_sha256).where('tenant_id', '=', tenant).execute();
      }
      await writeAuditEvent(trx, audit);
      return toRecord(row);
    }, { isSerializable: true });
  }

  async markVerified(tenant: TenantId, id: CaCertificateId, verifiedAt: Date, audit?: AuditEntry): Promise<CaCertificateRecord | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        // Serializable: the claim is decided on what was read (PostgreSQL aborts and runTransaction
        // retries the later of two racing verifications, as SQLite's single connection serialises them).
        return await runTransaction(this.#db, (trx) => this.#markVerified(trx, tenant, id, verifiedAt, audit), { isSerializable: true });
      } catch (error) {
        if (uniqueViolation(error) === undefined) throw error;
        // A concurrent verification claimed the key first. Look again: this tenant's claim (the
        // same CA verified in parallel) answers the stored state, another tenant's is refused.
        if (attempt >= 3) throw keyVerifiedByOtherTenant();
      }
    }
  }

  async #markVerified(
    trx: Transaction<Database>, tenant: TenantId, id: CaCertificateId, verifiedAt: Date, audit: AuditEntry | undefined,
  ): Promise<CaCertificateRecord | undefined> {
    const row = await trx.selectFrom('ca_certificates').selectAll()
      .where('tenant_id', '=', tenant).where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    if (row.is_verified) return toRecord(row);
    const claim = await trx.selectFrom('ca_key_claims').select('tenant_id')
      .where('public_key_sha256', '=', row.public_key_sha256).executeTakeFirst();
    if (claim && claim.tenant_id !== tenant) throw keyVerifiedByOtherTenant();
    if (!claim) {
      await trx.insertInto('ca_key_claims').values({
        public_key_sha256: row.public_key_sha256, tenant_id: tenant, claimed_at: verifiedAt.toISOString(),
      }).execute();
    }
    const updated = await trx.updateTable('ca_certificates')
      .set({ is_verified: 1, verified_at: verifiedAt.toISOString() })
      .where('id', '=', id).where('tenant_id', '=', tenant).returningAll().executeTakeFirstOrThrow();
    // Only a verification that changed the record is one: an already verified CA returned above.
    await writeAuditEvent(trx, audit);
    return toRecord(updated);
  }
}
