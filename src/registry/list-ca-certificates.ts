import type { TenantId } from '../shared/index.ts';
import type { CaCertificateRecord } from './ca-certificate.ts';
import type { RegistryDependencies } from './ports.ts';

export const listCaCertificates = (
  { caCertificates }: Pick<RegistryDependencies, 'caCertificates'>,
  tenant: TenantId,
): Promise<CaCertificateRecord[]> => caCertificates.list(tenant);
