export { DomainError, isDomainError } from './domain-error.ts';
export { errorCatalogue, errorCodes, type ErrorCode } from './error-catalogue.ts';
export { type Clock, systemClock, fixedClock } from './clock.ts';
export {
  type Brand, type TenantId, type CaCertificateId,
  newResourceId, RESOURCE_ID_PATTERN, TENANT_PATTERN, isTenantId,
} from './ids.ts';
