import type { CaCertificateId, TenantId } from '../shared/index.ts';
import type { RegistryDependencies } from './ports.ts';
import { findCaCertificate } from './find-ca-certificate.ts';

// The code is stored with the CA and never changes, so it stays stable until (and after) verification.
export const getRegistrationCode = async (
  dependencies: Pick<RegistryDependencies, 'caCertificates'>,
  tenant: TenantId,
  id: CaCertificateId,
): Promise<string> => (await findCaCertificate(dependencies, tenant, id)).registrationCode;
