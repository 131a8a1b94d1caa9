import type { TenantId } from '../shared/index.ts';

// Who is calling, as established from a verified token.
export interface Principal {
  readonly tenant: TenantId;
  readonly scopes: readonly string[];
  readonly subject: string | undefined;
  /** The token's `exp`, in ms since the epoch: a cached verification never outlives it. */
  readonly expiresAtMs?: number | undefined;
}
