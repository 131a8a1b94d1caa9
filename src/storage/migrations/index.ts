import type { Migration, MigrationProvider } from 'kysely';
import { caCertificatesMigration } from './2026-11-27-0001-ca-certificates.ts';
import { agentsMigration } from './2026-11-27-0002-agents.ts';
import { agentCertificatesMigration } from './2026-11-27-0003-agent-certificates.ts';
import { certificateIdentityMigration } from './2026-12-02-0004-certificate-identity.ts';
import { trustChangesMigration } from './2026-12-02-0005-trust-changes.ts';
import { dataDirKeysMigration } from './2026-12-02-0006-data-dir-keys.ts';
import { trustEventOutboxMigration } from './2026-12-02-0007-trust-event-outbox.ts';
import { revokedCertificatesMigration } from './2026-12-02-0008-revoked-certificates.ts';
import { agentCertificateValidityMigration } from './2026-12-02-0009-agent-certificate-validity.ts';
import { agentCertificateRenewalsMigration } from './2026-12-02-0010-agent-certificate-renewals.ts';
import { auditEventsMigration } from './2026-12-03-0011-audit-events.ts';
import { deliveryJobsMigration } from './2026-12-03-0012-delivery-jobs.ts';
import { agentTokenKeysMigration } from './2026-12-03-0014-agent-token-keys.ts';

// Static list (no directory scanning): names sort in the order they must run.
const migrations: Record<string, Migration> = {
  '2026-11-27-0001-ca-certificates': caCertificatesMigration,
  '2026-11-27-0002-agents': agentsMigration,
  '2026-11-27-0003-agent-certificates': agentCertificatesMigration,
  '2026-12-02-0004-certificate-identity': certificateIdentityMigration,
  '2026-12-02-0005-trust-changes': trustChangesMigration,
  '2026-12-02-0006-data-dir-keys': dataDirKeysMigration,
  '2026-12-02-0007-trust-event-outbox': trustEventOutboxMigration,
  '2026-12-02-0008-revoked-certificates': revokedCertificatesMigration,
  '2026-12-02-0009-agent-certificate-validity': agentCertificateValidityMigration,
  '2026-12-02-0010-agent-certificate-renewals': agentCertificateRenewalsMigration,
  '2026-12-03-0011-audit-events': auditEventsMigration,
  '2026-12-03-0012-delivery-jobs': deliveryJobsMigration,
  '2026-12-03-0014-agent-token-keys': agentTokenKeysMigration,
};

export const migrationProvider: MigrationProvider = { getMigrations: async () => migrations };
