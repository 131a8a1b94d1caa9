import type { Certificate } from '../pki/index.ts';
import type { AgentCertificateId, AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import type { ManagedCaCertificate } from './agent-certificate.ts';
import type { CaCertificateRecord } from './ca-certificate.ts';

// Facts the registry announces after they are stored; the broker's trust index listens.
export type RegistryEvent =
  | { readonly type: 'caCertificateRegistered'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'caCertificateVerified'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'caCertificateDeleted'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'managedCaCreated'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  // Issuer + serial number travel with the event (RFC 5280 §5.3): the broker closes exactly the
  // sessions of that certificate. Both are '' in a message from a node older than decision 0013,
  // which names only the agent certificate: the record is then read back.
  | { readonly type: 'agentCertificateRevoked'; readonly tenant: TenantId; readonly agentCertificateId: AgentCertificateId; readonly caCertificateId: CaCertificateId; readonly serialNumber: string }
  // The revocations of an uploaded CA changed (API-made or CRL, issue 15): the receiving node reads
  // the CA's revoked serials back and closes the sessions they now revoke.
  | { readonly type: 'caRevocationsChanged'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'agentDisabled'; readonly tenant: TenantId; readonly agentId: AgentId; readonly clientId: string }
  | { readonly type: 'agentDeleted'; readonly tenant: TenantId; readonly agentId: AgentId; readonly clientId: string };

/**
 * The record a use case of this node has just stored and its event names, published beside the
 * event with the certificate the use case parsed: this node applies both as they are instead of
 * reading the record back from the store and parsing its PEM again. It is never part of the
 * event, so it never reaches the wire or a log line; an event from another node comes without one
 * and is read back (docs/decisions/0017-cluster-bus-port.md).
 */
export type StoredRecord =
  | { readonly kind: 'caCertificate'; readonly record: CaCertificateRecord; readonly certificate: Certificate }
  // The certificate only: keeping trust current never needs the CA's (sealed) private key.
  | { readonly kind: 'managedCa'; readonly record: ManagedCaCertificate; readonly certificate: Certificate };
