import { randomBytes } from 'node:crypto';

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type TenantId = Brand<string, 'TenantId'>;
export type CaCertificateId = Brand<string, 'CaCertificateId'>;
export type AgentId = Brand<string, 'AgentId'>;
export type AgentCertificateId = Brand<string, 'AgentCertificateId'>;

// Ids look like MindConnect's public samples: 24 lowercase hex characters (96 random bits).
export const newResourceId = (): string => randomBytes(12).toString('hex');

// A tenant becomes part of MQTT client ids (`<tenant>_<CN>`) and topics (`tc/<tenant>/...`), so it
// may hold neither `_` nor MQTT's `/ + #`. Lowercase keeps `Acme` and `acme` from being two tenants.
export const TENANT_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const isTenantId = (value: unknown): value is TenantId =>
  typeof value === 'string' && TENANT_PATTERN.test(value);
