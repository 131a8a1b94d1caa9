import type { CaCertificateId, Clock, TenantId } from '../shared/index.ts';
import type { CaCertificateRecord, NewCaCertificateRecord } from './ca-certificate.ts';
import type { RegistryEvent } from './events.ts';

// What the registry needs from storage. Every method is atomic; adapters translate their driver's
// constraint errors into DomainErrors with the codes named here.
export interface CaCertificateStore {
  /** Inserts unless the tenant already holds this certificate (caCertificate.duplicate) or
   *  `maxPerTenant` CA certificates (caCertificate.limitReached), also under concurrent calls. */
  insert(record: NewCaCertificateRecord, maxPerTenant: number): Promise<CaCertificateRecord>;
  list(tenant: TenantId): Promise<CaCertificateRecord[]>;
  find(tenant: TenantId, id: CaCertificateId): Promise<CaCertificateRecord | undefined>;
  /** Removes the record and, if no other verified CA of the tenant has its key, the key's claim. */
  remove(tenant: TenantId, id: CaCertificateId): Promise<CaCertificateRecord | undefined>;
  /** Marks verified and claims its public key for the tenant; another tenant's claim fails with
   *  verification.keyVerifiedByOtherTenant. Idempotent for an already verified record. */
  markVerified(tenant: TenantId, id: CaCertificateId, verifiedAt: Date): Promise<CaCertificateRecord | undefined>;
}

export interface RegistryEventSink {
  publish(event: RegistryEvent): void;
}

export interface RegistrySettings {
  readonly maxCaCertificatesPerTenant: number;
  readonly clockSkewMs: number;
}

export interface RegistryDependencies {
  readonly caCertificates: CaCertificateStore;
  readonly events: RegistryEventSink;
  readonly clock: Clock;
  readonly settings: RegistrySettings;
}
