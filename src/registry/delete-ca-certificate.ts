import type { CaCertificateId, TenantId } from '../shared/index.ts';
import type { RegistryDependencies } from './ports.ts';
import { caCertificateNotFound } from './find-ca-certificate.ts';

// DELETE /caCertificates/{id}. Agents' records stay (CA rotation keeps identities); the event
// lets the broker drop trust and close sessions.
export const deleteCaCertificate = async (
  { caCertificates, events }: Pick<RegistryDependencies, 'caCertificates' | 'events'>,
  tenant: TenantId,
  id: CaCertificateId,
): Promise<void> => {
  const removed = await caCertificates.remove(tenant, id);
  if (!removed) throw caCertificateNotFound(id);
  await events.publish({ type: 'caCertificateDeleted', tenant, caCertificateId: id });
};
