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
import type { AuditContext } from './audit-context.ts';
import { listAuditEvents, type ListAuditEventsInput } from './list-audit-events.ts';

// The registry's use cases bound to their dependencies: what the front doors hold. A use case that
// changes state takes the caller's AuditContext (who, from where); without one the actor is trustgate
// itself (an in-process call with no front door).
export const createRegistry = (dependencies: RegistryDependencies) => ({
  registerCaCertificate: (input: RegisterCaCertificateInput, context?: AuditContext) => registerCaCertificate(dependencies, input, context),
  listCaCertificates: (tenant: TenantId) => listCaCertificates(dependencies, tenant),
  findCaCertificate: (tenant: TenantId, id: CaCertificateId) => findCaCertificate(dependencies, tenant, id),
  deleteCaCertificate: (tenant: TenantId, id: CaCertificateId, context?: AuditContext) => deleteCaCertificate(dependencies, tenant, id, context),
  getRegistrationCode: (tenant: TenantId, id: CaCertificateId) => getRegistrationCode(dependencies, tenant, id),
  verifyCaCertificate: (input: VerifyCaCertificateInput, context?: AuditContext) => verifyCaCertificate(dependencies, input, context),
  admitAgent: (input: AdmitAgentInput) => admitAgentCaughtUp(dependencies, input),
  recordAgentDisconnection: (tenant: TenantId, agentId: AgentId, sessionId: string, takenOverBy?: string) =>
    dependencies.agents.recordDisconnection(tenant, agentId, sessionId, dependencies.clock.now(), takenOverBy),
  diagnoseAgentCertificate: (input: { tenant: TenantId; agentCertificatePem: string; clientId: string | undefined }) =>
    diagnoseAgentCertificate(dependencies, input),
  isAgentClientId: async (tenant: TenantId, clientId: string) => (await dependencies.agents.findByClientId(tenant, clientId)) !== undefined,
  listAgents: (tenant: TenantId, filter?: AgentListFilter) => listAgents(dependencies, tenant, filter),
  findAgent: (tenant: TenantId, id: AgentId) => findAgent(dependencies, tenant, id),
  setAgentEnabled: (tenant: TenantId, id: AgentId, isEnabled: boolean, context?: AuditContext) => setAgentEnabled(dependencies, tenant, id, isEnabled, context),
  deleteAgent: (tenant: TenantId, id: AgentId, context?: AuditContext) => deleteAgent(dependencies, tenant, id, context),
  createAgentCertificate: (input: CreateAgentCertificateInput, context?: AuditContext) => createAgentCertificate(dependencies, input, context),
  listAgentCertificates: (tenant: TenantId) => listAgentCertificates(dependencies, tenant),
  findAgentCertificate: (tenant: TenantId, id: AgentCertificateId) => findAgentCertificate(dependencies, tenant, id),
  revokeAgentCertificate: (tenant: TenantId, id: AgentCertificateId, context?: AuditContext) => revokeAgentCertificate(dependencies, tenant, id, context),
  renewAgentCertificate: (input: RenewAgentCertificateInput, context?: AuditContext) => renewAgentCertificate(dependencies, input, context),
  revokeSerial: (input: { tenant: TenantId; caCertificateId: CaCertificateId; serialNumber: string; reason?: string | undefined }, context?: AuditContext) =>
    revokeSerial(dependencies, input, context),
  listRevocations: (tenant: TenantId, id: CaCertificateId) => listRevocations(dependencies, tenant, id),
  releaseHold: (tenant: TenantId, id: CaCertificateId, serialNumber: string, context?: AuditContext) => releaseHold(dependencies, tenant, id, serialNumber, context),
  importCrl: (input: { tenant: TenantId; caCertificateId: CaCertificateId; crlPem: string }, context?: AuditContext) => importCrl(dependencies, input, context),
  findCrl: (tenant: TenantId, id: CaCertificateId) => findCrl(dependencies, tenant, id),
  listAuditEvents: (input: ListAuditEventsInput) => listAuditEvents(dependencies.audit, input),
});

export type Registry = ReturnType<typeof createRegistry>;
