export { openDatabase, migrateToLatest, isPostgresUrl, sqlitePathOf, type OpenDatabaseOptions } from './open-database.ts';
export { snapshotSqliteDatabase } from './node-sqlite-database.ts';
export { KyselyCaCertificateStore } from './kysely-ca-certificate-store.ts';
export { KyselyAgentStore } from './kysely-agent-store.ts';
export { KyselyAgentCertificateStore } from './kysely-agent-certificate-store.ts';
export { KyselyManagedCaStore } from './kysely-managed-ca-store.ts';
export { KyselyTrustChangeCounter } from './kysely-trust-change-counter.ts';
export { KyselyTrustEventOutbox } from './kysely-trust-event-outbox.ts';
export { KyselyRevocationStore } from './kysely-revocation-store.ts';
export { KyselyDataDirKeys, type DataDirKeyPurpose } from './kysely-data-dir-keys.ts';
export { KyselyAgentTokenKeys, type StoredAgentTokenKey } from './kysely-agent-token-keys.ts';
export { AesGcmPrivateKeySealer, SEALING_KEY_BYTES, type PrivateKeySealer } from './private-key-sealer.ts';
export { uniqueViolation } from './translate-driver-error.ts';
export type { Database } from './tables.ts';
export {
  listCaExpiries, countAgentCertificatesExpiringBefore, listAgentCertificatesExpiringBetween, type AgentCertificateExpiry, type CaExpiry,
} from './certificate-expiry-queries.ts';
export { KyselyAuditTrail, type AuditLogSink } from './kysely-audit-trail.ts';
export { enqueueWebhookEvent } from './webhook-outbox-rows.ts';
export { KyselyDeliveryJobStore } from './kysely-delivery-job-store.ts';
export { KyselyWebhookStore } from './kysely-webhook-store.ts';
export { KyselyWebhookOutbox, type ClaimedDelivery, type DeliveryOutcome } from './kysely-webhook-outbox.ts';
