import type { TenantId } from '../shared/index.ts';
import type { AuditActor } from './audit-trail.ts';

// The broker's connect bans as the REST API shows them (SPEC "Audit trail and limits": MQTT
// limits; docs/limits.md). The broker owns them (src/mqtt/connect-limits.ts); the API only lists
// and lifts a tenant's own, through this port.

export interface MqttBanView {
  /** 24 lowercase hex characters, stable for the banned subject. */
  readonly id: string;
  /** Only `clientId` bans belong to a tenant; `sourceAddress` bans belong to none (docs/limits.md). */
  readonly kind: 'clientId' | 'sourceAddress';
  readonly clientId: string | undefined;
  /** SHA-256 of the certificate the refused client presented (lowercase hex), or undefined (a token, or none). */
  readonly certificateFingerprint: string | undefined;
  /** The last refusal's code (e.g. `mqtt.certificateRevoked`, `mqtt.connectRateLimited`). */
  readonly reason: string;
  /** Refusals within the window that earned the ban. */
  readonly refusals: number;
  readonly bannedAt: Date;
  readonly expiresAt: Date;
}

export interface MqttBans {
  /** The tenant's active bans, soonest expiry first. */
  list(tenant: TenantId): Promise<readonly MqttBanView[]>;
  /** Lifts one of the tenant's bans, on every node; `ban.notFound` for another tenant's, expired or unknown id. */
  lift(tenant: TenantId, id: string, by: AuditActor, requestId?: string): Promise<void>;
}
