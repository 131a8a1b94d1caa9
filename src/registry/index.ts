export type { CaCertificateRecord, NewCaCertificateRecord } from './ca-certificate.ts';
export type { CaCertificateStore, RegistryDependencies, RegistryEventSink, RegistrySettings } from './ports.ts';
export type { RegistryEvent } from './events.ts';
export { createRegistry, type Registry } from './create-registry.ts';
export { InMemoryCaCertificateStore } from './in-memory-ca-certificate-store.ts';
export { duplicateCaCertificate, caCertificateLimitReached, keyVerifiedByOtherTenant } from './store-errors.ts';
export { newRegistrationCode } from './registration-code.ts';
