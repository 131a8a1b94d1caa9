export { openDatabase, migrateToLatest, sqlitePathOf, type OpenDatabaseOptions } from './open-database.ts';
export { KyselyCaCertificateStore } from './kysely-ca-certificate-store.ts';
export { KyselyAgentStore } from './kysely-agent-store.ts';
export { uniqueViolation } from './translate-driver-error.ts';
export type { Database } from './tables.ts';
