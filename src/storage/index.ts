export { openDatabase, migrateToLatest, isPostgresUrl, sqlitePathOf, type OpenDatabaseOptions } from './open-database.ts';
export { KyselyCaCertificateStore } from './kysely-ca-certificate-store.ts';
export { KyselyAgentStore } from './kysely-agent-store.ts';
export { KyselyAgentCertificateStore } from './kysely-agent-certificate-store.ts';
export { KyselyManagedCaStore } from './kysely-managed-ca-store.ts';
export { KyselyDataDirKeys, type DataDirKeyPurpose } from './kysely-data-dir-keys.ts';
export { AesGcmPrivateKeySealer, SEALING_KEY_BYTES, type PrivateKeySealer } from './private-key-sealer.ts';
export { uniqueViolation } from './translate-driver-error.ts';
export type { Database } from './tables.ts';
