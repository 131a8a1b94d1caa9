import { DomainError, type CaCertificateId, type TenantId } from '../shared/index.ts';
import type { CaCertificateRecord } from './ca-certificate.ts';
import type { RegistryDependencies } from './ports.ts';

export const caCertificateNotFound = (id: string): DomainError =>
  new DomainError('caCertificate.notFound', `No CA certificate with id "${id}" in your tenant. List yours with GET /caCertificates.`);

// GET /caCertificates/{id}. Another tenant's id is indistinguishable from a missing one.
export const findCaCertificate = async (
  { caCertificates }: Pick<RegistryDependencies, 'caCertificates'>,
  tenant: TenantId,
  id: CaCertificateId,
): Promise<CaCertificateRecord> => {
  const record = await caCertificates.find(tenant, id);
  if (!record) throw caCertificateNotFound(id);
  return record;
};
