import type { AgentCertificateId, AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import type { AgentListFilter } from './agent.ts';
import type { RegistryDependencies } from './ports.ts';
import { registerCaCertificate, type RegisterCaCertificateInput } from './register-ca-certificate.ts';
import { listCaCertificates } from './list-ca-certificates.ts';
import { findCaCertificate } from './find-ca-certificate.ts';
import { deleteCaCertificate } from './delete-ca-certificate.ts';
import { getRegistrationCode } from './get-registration-code.ts';
import { verifyCaCertificate, type VerifyCaCertificateInput } from './verify-ca-certificate.ts';
import type { AdmitAgentInput } from './admit-agent.ts';
import { admitAgentCaughtUp } from './admit-agent-caught-up.ts';
import { diagnoseAgentCertificate } from './diagnose-agent-certificate.ts';
import { deleteAgent, findAgent, listAgents, setAgentEnabled } from './agent-use-cases.ts';
import { createAgentCertificate, type CreateAgentCertificateInput } from './create-agent-certificate.ts';
import { findCrl, importCrl, listRevocations, releaseHold, revokeSerial } from './revocation-use-cases.ts';
import { findAgentCertificate, listAgentCertificates, revokeAgentCertificate } from './agent-certificate-use-cases.ts';
import { renewAgentCertificate, type RenewAgentCertificateInput } from './renew-agent-certificate.ts';

// The registry's use cases bound to their dependencies: what the front doors hold.
export const createRegistry = (dependencies: RegistryDependencies) => ({
  registerCaCertificate: (input: RegisterCaCertificateInput) => registerCaCertificate(dependencies, input),
  listCaCertificates: (tenant: TenantId) => listCaCertificates(dependencies, tenant),
  findCaCertificate: (tenant: TenantId, id: CaCertificateId) => findCaCertificate(dependencies, tenant, id),
  deleteCaCertificate: (tenant: TenantId, id: CaCertificateId) => deleteCaCertificate(dependencies, tenant, id),
  getRegistrationCode: (tenant: TenantId, id: CaCertificateId) => getRegistrationCode(dependencies, tenant, id),
  verifyCaCertificate: (input: VerifyCaCertificateInput) => verifyCaCertificate(dependencies, input),
  admitAgent: (input: AdmitAgentInput) => admitAgentCaughtUp(dependencies, input),
  recordAgentDisconnection: (tenant: TenantId, agentId: AgentId, sessionId: string, takenOverBy?: string) =>
    dependencies.agents.recordDisconnection(tenant, agentId, sessionId, dependencies.clock.now(), takenOverBy),
  diagnoseAgentCertificate: (input: { tenant: TenantId; agentCertificatePem: string; clientId: string | undefined }) =>
    diagnoseAgentCertificate(dependencies, input),
  isAgentClientId: async (tenant: TenantId, clientId: string) => (await dependencies.agents.findByClientId(tenant, clientId)) !== undefined,
  listAgents: (tenant: TenantId, filter?: AgentListFilter) => listAgents(dependencies, tenant, filter),
  findAgent: (tenant: TenantId, id: AgentId) => findAgent(dependencies, tenant, id),
  setAgentEnabled: (tenant: TenantId, id: AgentId, isEnabled: boolean) => setAgentEnabled(dependencies, tenant, id, isEnabled),
  deleteAgent: (tenant: TenantId, id: AgentId) => deleteAgent(dependencies, tenant, id),
  createAgentCertificate: (input: CreateAgentCertificateInput) => createAgentCertificate(dependencies, input),
  listAgentCertificates: (tenant: TenantId) => listAgentCertificates(dependencies, tenant),
  findAgentCertificate: (tenant: TenantId, id: AgentCertificateId) => findAgentCertificate(dependencies, tenant, id),
  revokeAgentCertificate: (tenant: TenantId, id: AgentCertificateId) => revokeAgentCertificate(dependencies, tenant, id),
  renewAgentCertificate: (input: RenewAgentCertificateInput) => renewAgentCertificate(dependencies, input),
  revokeSerial: (input: { tenant: TenantId; caCertificateId: CaCertificateId; serialNumber: string; reason?: string | undefined }) => revokeSerial(dependencies, input),
  listRevocations: (tenant: TenantId, id: CaCertificateId) => listRevocations(dependencies, tenant, id),
  releaseHold: (tenant: TenantId, id: CaCertificateId, serialNumber: string) => releaseHold(dependencies, tenant, id, serialNumber),
  importCrl: (input: { tenant: TenantId; caCertificateId: CaCertificateId; crlPem: string }) => importCrl(dependencies, input),
  findCrl: (tenant: TenantId, id: CaCertificateId) => findCrl(dependencies, tenant, id),
});

export type Registry = ReturnType<typeof createRegistry>;
