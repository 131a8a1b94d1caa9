import type { CaCertificateId, TenantId } from '../shared/index.ts';

// Revocations by issuer + serial number (RFC 5280 §5.3) of certificates an uploaded CA issued:
// made through the API, or entries of the CA's imported CRL (docs/decisions/0022-revocation-by-serial.md).

export interface RevocationRecord {
  readonly tenant: TenantId;
  readonly caCertificateId: CaCertificateId;
  /** Normalised: lowercase hex, no leading zeros, no colons. */
  readonly serialNumber: string;
  /** An RFC 5280 reason name (pki REVOCATION_REASONS). */
  readonly reason: string;
  readonly revokedAt: Date;
}

/** What an imported CRL leaves stored about itself (its entries are stored beside it). */
export interface CrlRecord {
  readonly tenant: TenantId;
  readonly caCertificateId: CaCertificateId;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** cRLNumber as normalised hex; undefined when the CRL carries none. */
  readonly crlNumber: string | undefined;
  readonly entryCount: number;
  readonly importedAt: Date;
}

/** Whether `next` may replace `stored` (no replay of an older CRL): by CRL number when both carry
 *  one, else by thisUpdate. Equal is allowed (the same CRL again changes nothing). */
export const isNotOlderCrl = (next: Pick<CrlRecord, 'crlNumber' | 'thisUpdate'>, stored: Pick<CrlRecord, 'crlNumber' | 'thisUpdate'> | undefined): boolean => {
  if (!stored) return true;
  if (next.crlNumber !== undefined && stored.crlNumber !== undefined) return BigInt(`0x${next.crlNumber}`) >= BigInt(`0x${stored.crlNumber}`);
  return next.thisUpdate.getTime() >= stored.thisUpdate.getTime();
};
