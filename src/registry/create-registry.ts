import type { CaCertificateId, TenantId } from '../shared/index.ts';
import type { RegistryDependencies } from './ports.ts';
import { registerCaCertificate, type RegisterCaCertificateInput } from './register-ca-certificate.ts';
import { listCaCertificates } from './list-ca-certificates.ts';
import { findCaCertificate } from './find-ca-certificate.ts';
import { deleteCaCertificate } from './delete-ca-certificate.ts';
import { getRegistrationCode } from './get-registration-code.ts';
import { verifyCaCertificate, type VerifyCaCertificateInput } from './verify-ca-certificate.ts';

// The registry's use cases bound to their dependencies: what the front doors hold.
export const createRegistry = (dependencies: RegistryDependencies) => ({
  registerCaCertificate: (input: RegisterCaCertificateInput) => registerCaCertificate(dependencies, input),
  listCaCertificates: (tenant: TenantId) => listCaCertificates(dependencies, tenant),
  findCaCertificate: (tenant: TenantId, id: CaCertificateId) => findCaCertificate(dependencies, tenant, id),
  deleteCaCertificate: (tenant: TenantId, id: CaCertificateId) => deleteCaCertificate(dependencies, tenant, id),
  getRegistrationCode: (tenant: TenantId, id: CaCertificateId) => getRegistrationCode(dependencies, tenant, id),
  verifyCaCertificate: (input: VerifyCaCertificateInput) => verifyCaCertificate(dependencies, input),
});

export type Registry = ReturnType<typeof createRegistry>;
