import type { CaCertificateId, TenantId } from '../shared/index.ts';
import type { RegistryDependencies } from './ports.ts';
import { caCertificateNotFound } from './find-ca-certificate.ts';
import { auditEntryOf, systemContext, type AuditContext } from './audit-context.ts';

// DELETE /caCertificates/{id}. Agents' records stay (CA rotation keeps identities); the event
// lets the broker drop trust and close sessions.
export const deleteCaCertificate = async (
  { caCertificates, events, audit, clock }: Pick<RegistryDependencies, 'caCertificates' | 'events' | 'audit' | 'clock'>,
  tenant: TenantId,
  id: CaCertificateId,
  context: AuditContext = systemContext,
): Promise<void> => {
  const entry = auditEntryOf(context, { time: clock.now(), tenant, action: 'caCertificate.deleted', target: `caCertificate:${id}` });
  const removed = await caCertificates.remove(tenant, id, entry);
  if (!removed) throw caCertificateNotFound(id);
  audit.logWritten(entry);
  await events.publish({ type: 'caCertificateDeleted', tenant, caCertificateId: id });
};
