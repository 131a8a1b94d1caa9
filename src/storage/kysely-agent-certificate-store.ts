import type { Kysely, Selectable, Transaction } from 'kysely';
import type { AgentCertificateId, CaCertificateId, TenantId } from '../shared/index.ts';
import {
  duplicateAgentCertificate, type AgentCertificateRecord, type AuditEntry, type AgentCertificateStore, type NewAgentCertificateRecord, type RevokedSerial,
} from '../registry/index.ts';
import type { AgentCertificatesTable, Database } from './tables.ts';
import { runTransaction } from './run-transaction.ts';
import { writeAuditEvent } from './audit-event-rows.ts';
import { uniqueViolation } from './translate-driver-error.ts';

const toRecord = (row: Selectable<AgentCertificatesTable>): AgentCertificateRecord => ({
  id: row.id as AgentCertificateId,
  tenant: row.tenant_id as TenantId,
  name: row.name,
  owner: row.owner ?? undefined,
  clientId: row.client_id,
  managedCaId: row.managed_ca_id as CaCertificateId,
  certificatePem: row.certificate_pem,
  fingerprintSha256: row.fingerprint_sha256,
  serialNumber: row.serial_number,
  keySource: row.key_source === 'csr' ? 'csr' : 'generated',
  notBefore: new Date(row.not_before),
  notAfter: new Date(row.not_after),
  createdAt: new Date(row.created_at),
  isRevoked: Boolean(row.is_revoked),
  revokedAt: row.revoked_at === null ? undefined : new Date(row.revoked_at),
});

export class KyselyAgentCertificateStore implements AgentCertificateStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(record: NewAgentCertificateRecord, audit?: AuditEntry): Promise<AgentCertificateRecord> {
    return runTransaction(this.#db, async (trx) => {
      const inserted = await this.#insert(trx, record);
      await writeAuditEvent(trx, audit);
      return inserted;
    });
  }

  async #insert(db: Kysely<Database> | Transaction<Database>, record: NewAgentCertificateRecord): Promise<AgentCertificateRecord> {
    try {
      const row = await db.insertInto('agent_certificates').values({
        id: record.id,
        tenant_id: record.tenant,
        name: record.name,
        // The unique (tenant_id, active_name) constraint is the rule "one active certificate per name".
        active_name: record.name,
        owner: record.owner ?? null,
        client_id: record.clientId,
        managed_ca_id: record.managedCaId,
        certificate_pem: record.certificatePem,
        fingerprint_sha256: record.fingerprintSha256,
        serial_number: record.serialNumber,
        key_source: record.keySource,
        not_before: record.notBefore.toISOString(),
        not_after: record.notAfter.toISOString(),
        created_at: record.createdAt.toISOString(),
        is_revoked: 0,
        revoked_at: null,
      }).returningAll().executeTakeFirstOrThrow();
      return toRecord(row);
    } catch (error) {
      const violated = uniqueViolation(error);
      if (violated !== undefined && violated.includes('active_name')) throw duplicateAgentCertificate(record.name);
      throw error;
    }
  }

  async list(tenant: TenantId): Promise<AgentCertificateRecord[]> {
    const rows = await this.#db.selectFrom('agent_certificates').selectAll()
      .where('tenant_id', '=', tenant).orderBy('created_at').orderBy('id').execute();
    return rows.map(toRecord);
  }

  async find(tenant: TenantId, id: AgentCertificateId): Promise<AgentCertificateRecord | undefined> {
    const row = await this.#db.selectFrom('agent_certificates').selectAll()
      .where('tenant_id', '=', tenant).where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async findActiveByName(tenant: TenantId, name: string): Promise<AgentCertificateRecord | undefined> {
    const row = await this.#db.selectFrom('agent_certificates').selectAll()
      .where('tenant_id', '=', tenant).where('active_name', '=', name).executeTakeFirst();
    return row && toRecord(row);
  }

  async revoke(tenant: TenantId, id: AgentCertificateId, at: Date, audit?: AuditEntry): Promise<AgentCertificateRecord | undefined> {
    // One statement: of two concurrent revocations the first sets revoked_at, the second matches
    // nothing (and writes no audit entry: it changed nothing).
    const row = await runTransaction(this.#db, async (trx) => {
      const revoked = await trx.updateTable('agent_certificates')
        .set({ is_revoked: 1, revoked_at: at.toISOString(), active_name: null })
        .where('tenant_id', '=', tenant).where('id', '=', id).where('is_revoked', '=', 0)
        .returningAll().executeTakeFirst();
      if (revoked) await writeAuditEvent(trx, audit);
      return revoked;
    });
    return row ? toRecord(row) : this.find(tenant, id);
  }

  async lastRenewalAt(tenant: TenantId, clientId: string): Promise<Date | undefined> {
    const row = await this.#db.selectFrom('agent_certificate_renewals').select('renewed_at')
      .where('tenant_id', '=', tenant).where('client_id', '=', clientId).executeTakeFirst();
    return row && new Date(row.renewed_at);
  }

  async insertRenewal(record: NewAgentCertificateRecord, notRenewedSince: Date, audit?: AuditEntry): Promise<{ renewed: AgentCertificateRecord } | { lastRenewalAt: Date }> {
    return runTransaction(this.#db, async (trx) => {
      // The hourly limit, decided by one conditional upsert: of concurrent renewals (on any node)
      // one updates the row, the others' WHERE fails on the row it left (PostgreSQL re-reads the
      // locked row under READ COMMITTED; SQLite has one writer) and they change nothing.
      const claimed = await trx.insertInto('agent_certificate_renewals').values({
        tenant_id: record.tenant, client_id: record.clientId, renewed_at: record.createdAt.toISOString(), agent_certificate_id: record.id,
      }).onConflict((conflict) => conflict.columns(['tenant_id', 'client_id'])
        .doUpdateSet({ renewed_at: record.createdAt.toISOString(), agent_certificate_id: record.id })
        .where('agent_certificate_renewals.renewed_at', '<=', notRenewedSince.toISOString()))
        .returning('renewed_at').executeTakeFirst();
      if (!claimed) {
        const last = await trx.selectFrom('agent_certificate_renewals').select('renewed_at')
          .where('tenant_id', '=', record.tenant).where('client_id', '=', record.clientId).executeTakeFirstOrThrow();
        return { lastRenewalAt: new Date(last.renewed_at) };
      }
      // Retired, not revoked: is_revoked stays 0 (no trust event, the certificate still connects).
      await trx.updateTable('agent_certificates').set({ active_name: null })
        .where('tenant_id', '=', record.tenant).where('active_name', '=', record.name).execute();
      const renewed = await this.#insert(trx, record);
      await writeAuditEvent(trx, audit);
      return { renewed };
    });
  }

  async listRevokedSerials(now: Date): Promise<RevokedSerial[]> {
    const rows = await this.#db.selectFrom('agent_certificates').select(['managed_ca_id', 'serial_number'])
      .where('is_revoked', '=', 1).where('not_after', '>=', now.toISOString()).execute();
    return rows.map((row) => ({ caCertificateId: row.managed_ca_id as CaCertificateId, serialNumber: row.serial_number }));
  }
}
