import type { Kysely, Selectable } from 'kysely';
import { newResourceId, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { AgentConnection, AgentRecord, AgentStore } from '../registry/index.ts';
import type { AgentsTable, Database } from './tables.ts';
import { uniqueViolation } from './translate-driver-error.ts';

const toRecord = (row: Selectable<AgentsTable>): AgentRecord => ({
  id: row.id,
  tenant: row.tenant_id as TenantId,
  clientId: row.client_id,
  commonName: row.common_name,
  caCertificateId: row.ca_certificate_id as CaCertificateId,
  certificateFingerprintSha256: row.certificate_fingerprint_sha256,
  isEnabled: Boolean(row.is_enabled),
  isOnline: Boolean(row.is_online),
  firstConnectedAt: new Date(row.first_connected_at),
  lastConnectedAt: new Date(row.last_connected_at),
});

export class KyselyAgentStore implements AgentStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async recordConnection(connection: AgentConnection): Promise<AgentRecord | { readonly isDisabled: true }> {
    const at = connection.at.toISOString();
    const changes = {
      common_name: connection.commonName,
      ca_certificate_id: connection.caCertificateId,
      certificate_fingerprint_sha256: connection.certificateFingerprintSha256,
      is_online: 1,
      session_id: connection.sessionId,
      last_connected_at: at,
    };
    for (let attempt = 1; ; attempt++) {
      // The enabled check is part of the update, so a disable racing this connect wins.
      const updated = await this.#db.updateTable('agents').set(changes)
        .where('tenant_id', '=', connection.tenant).where('client_id', '=', connection.clientId).where('is_enabled', '=', 1)
        .returningAll().executeTakeFirst();
      if (updated) return toRecord(updated);
      const existing = await this.findByClientId(connection.tenant, connection.clientId);
      if (existing) return { isDisabled: true };
      try {
        const inserted = await this.#db.insertInto('agents').values({
          id: newResourceId(),
          tenant_id: connection.tenant,
          client_id: connection.clientId,
          ...changes,
          is_enabled: 1,
          first_connected_at: at,
        }).returningAll().executeTakeFirstOrThrow();
        return toRecord(inserted);
      } catch (error) {
        // Two first connections of one agent at once: the other one onboarded it; update instead.
        if (uniqueViolation(error) === undefined || attempt >= 3) throw error;
      }
    }
  }

  async recordDisconnection(tenant: TenantId, agentId: string, sessionId: string): Promise<void> {
    await this.#db.updateTable('agents').set({ is_online: 0, session_id: null })
      .where('tenant_id', '=', tenant).where('id', '=', agentId).where('session_id', '=', sessionId).execute();
  }

  async markAllOffline(): Promise<void> {
    await this.#db.updateTable('agents').set({ is_online: 0, session_id: null }).where('is_online', '=', 1).execute();
  }

  async findByClientId(tenant: TenantId, clientId: string): Promise<AgentRecord | undefined> {
    const row = await this.#db.selectFrom('agents').selectAll()
      .where('tenant_id', '=', tenant).where('client_id', '=', clientId).executeTakeFirst();
    return row && toRecord(row);
  }

  async list(tenant: TenantId): Promise<AgentRecord[]> {
    const rows = await this.#db.selectFrom('agents').selectAll().where('tenant_id', '=', tenant)
      .orderBy('first_connected_at').orderBy('id').execute();
    return rows.map(toRecord);
  }

  async find(tenant: TenantId, id: string): Promise<AgentRecord | undefined> {
    const row = await this.#db.selectFrom('agents').selectAll().where('tenant_id', '=', tenant).where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async setEnabled(tenant: TenantId, id: string, isEnabled: boolean): Promise<AgentRecord | undefined> {
    const row = await this.#db.updateTable('agents').set({ is_enabled: isEnabled ? 1 : 0 })
      .where('tenant_id', '=', tenant).where('id', '=', id).returningAll().executeTakeFirst();
    return row && toRecord(row);
  }

  async remove(tenant: TenantId, id: string): Promise<AgentRecord | undefined> {
    const row = await this.#db.deleteFrom('agents').where('tenant_id', '=', tenant).where('id', '=', id).returningAll().executeTakeFirst();
    return row && toRecord(row);
  }
}
