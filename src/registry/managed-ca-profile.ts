import type { KeyType } from '../pki/index.ts';
import type { TenantId } from '../shared/index.ts';

// What the managed CA and its agent certificates look like (POST /agentCertificates, README "REST API").
export const MANAGED_CA_KEY_TYPE: KeyType = 'p256';
export const MANAGED_CA_VALIDITY_DAYS = 3650;
export const AGENT_CERTIFICATE_KEY_TYPE: KeyType = 'p256';
// One year, as device certificates commonly are; never past the CA's notAfter (pki caps it).
export const AGENT_CERTIFICATE_VALIDITY_DAYS = 365;

// The tenant in the CN (a tenant is at most 63 characters, within RFC 5280's 64 for a CN) tells
// the CA apart in `openssl x509 -text` and in agents' logs; O says who made it.
export const managedCaSubject = (tenant: TenantId): Record<string, string> =>
  ({ O: 'trustgate managed agent CA', CN: tenant });
