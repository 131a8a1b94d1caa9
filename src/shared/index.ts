export { DomainError, isDomainError } from './domain-error.ts';
export { errorCatalogue, errorCodes, type ErrorCode } from './error-catalogue.ts';
export { type Clock, systemClock } from './clock.ts';
export {
  type Brand, type TenantId, type CaCertificateId, type AgentId, type AgentCertificateId,
  newResourceId, TENANT_PATTERN, isTenantId,
} from './ids.ts';
export { AGENT_NAME_PATTERN, AGENT_NAME_RULE, MAX_AGENT_NAME_LENGTH, agentNameProblem, showName, trimDisplayName } from './names.ts';
export { isJsonDeeperThan, MAX_JSON_DEPTH } from './json-depth.ts';
