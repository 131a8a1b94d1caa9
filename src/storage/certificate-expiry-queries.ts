import type { Kysely } from 'kysely';
import type { Database } from './tables.ts';

/** One CA a tenant's agents may be admitted by: an uploaded CA (slot 1 or 2) or the managed CA. */
export interface CaExpiry {
  readonly tenant: string;
  readonly caCertificateId: string;
  readonly name: string;
  readonly kind: 'uploaded' | 'managed';
  readonly notAfter: Date;
  /** An uploaded CA's imported CRL: its nextUpdate (absent without a CRL, or a CRL without one). */
  readonly crlNextUpdate?: Date;
}

/** Every CA of every tenant with its notAfter (few rows: at most three per tenant). */
export const listCaExpiries = async (db: Kysely<Database>): Promise<CaExpiry[]> => {
  const [uploaded, managed] = await Promise.all([
    db.selectFrom('ca_certificates')
      .leftJoin('certificate_revocation_lists as crl', 'crl.ca_certificate_id', 'ca_certificates.id')
      .select(['ca_certificates.tenant_id', 'ca_certificates.id', 'ca_certificates.name', 'ca_certificates.not_after', 'crl.next_update'])
      .execute(),
    db.selectFrom('managed_ca_certificates').select(['tenant_id', 'id', 'not_after']).execute(),
  ]);
  return [
    ...uploaded.map((row) => ({
      tenant: row.tenant_id, caCertificateId: row.id, name: row.name, kind: 'uploaded' as const, notAfter: new Date(row.not_after),
      ...(row.next_update ? { crlNextUpdate: new Date(row.next_update) } : {}),
    })),
    ...managed.map((row) => ({ tenant: row.tenant_id, caCertificateId: row.id, name: 'managed CA', kind: 'managed' as const, notAfter: new Date(row.not_after) })),
  ];
};

/** Per tenant: agents whose current certificate's notAfter is before `before` (expired ones
 *  included; agents whose validity is not known yet are not counted). Tenants with none are absent. */
export const countAgentCertificatesExpiringBefore = async (db: Kysely<Database>, before: Date): Promise<Map<string, number>> => {
  const rows = await db.selectFrom('agents').select(['tenant_id', (eb) => eb.fn.countAll<number | string | bigint>().as('count')])
    .where('certificate_not_after', '<', before.toISOString()).groupBy('tenant_id').execute();
  return new Map(rows.map((row) => [row.tenant_id, Number(row.count)]));
};

export interface AgentCertificateExpiry {
  readonly tenant: string;
  readonly agentId: string;
  readonly clientId: string;
  readonly notAfter: Date;
}

const TENANTS_PER_QUERY = 1000;

/** Agents of `tenants` whose current certificate's notAfter is in [from, to), soonest first, at most
 *  `limit` (the certificate.expiring webhook events: only tenants that subscribe are read). */
export const listAgentCertificatesExpiringBetween = async (
  db: Kysely<Database>, tenants: readonly string[], from: Date, to: Date, limit: number,
): Promise<AgentCertificateExpiry[]> => {
  // The tenants a chunk at a time (security review): one `in (…)` with every subscribed tenant passed
  // SQLite's 32,766 and PostgreSQL's 65,535 bound parameters, failing the whole day's run for all.
  const rows: { tenant_id: string; id: string; client_id: string; certificate_not_after: string | null }[] = [];
  for (let start = 0; start < tenants.length; start += TENANTS_PER_QUERY) {
    rows.push(...await db.selectFrom('agents').select(['tenant_id', 'id', 'client_id', 'certificate_not_after'])
      .where('tenant_id', 'in', tenants.slice(start, start + TENANTS_PER_QUERY))
      .where('certificate_not_after', '>=', from.toISOString()).where('certificate_not_after', '<', to.toISOString())
      .orderBy('certificate_not_after').limit(limit).execute());
  }
  rows.sort((a, b) => (a.certificate_not_after! < b.certificate_not_after! ? -1 : a.certificate_not_after! > b.certificate_not_after! ? 1 : 0));
  return rows.slice(0, limit).map((row) => ({ tenant: row.tenant_id, agentId: row.id, clientId: row.client_id, notAfter: new Date(row.certificate_not_after!) }));
};
