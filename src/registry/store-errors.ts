import { DomainError } from '../shared/index.ts';

// The errors the registry's stores raise, built in one place so every adapter says the same.
export const duplicateCaCertificate = (): DomainError => new DomainError('caCertificate.duplicate',
  'This CA certificate is already registered in your tenant. Use the existing one (GET /caCertificates) instead of uploading it again.');

export const caCertificateLimitReached = (maxPerTenant: number): DomainError => new DomainError('caCertificate.limitReached',
  `Your tenant already holds ${maxPerTenant} CA certificate${maxPerTenant === 1 ? '' : 's'}, the maximum. Delete one you no longer use (DELETE /caCertificates/{id}) before uploading another.`);

export const keyVerifiedByOtherTenant = (): DomainError => new DomainError('verification.keyVerifiedByOtherTenant',
  'A CA certificate with this public key is already verified in another tenant; a CA key can be trusted by one tenant at a time. Use a CA with its own key pair.');

export const keyOfManagedCa = (): DomainError => new DomainError('caCertificate.keyOfManagedCa',
  'This certificate carries the key of a managed agent CA, the CA trustgate keeps for a tenant\'s POST /agentCertificates. That key belongs to trustgate and cannot be registered or verified as an uploaded CA certificate. Upload a CA with a key pair of your own.');

export const duplicateAgentCertificate = (name: string): DomainError => new DomainError('agentCertificate.duplicate',
  `Your tenant already has an active agent certificate named "${name}". Revoke it first (DELETE /agentCertificates/{id}) to issue a new one, or choose another name.`);
