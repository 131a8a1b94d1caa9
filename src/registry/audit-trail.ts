import type { TenantId } from '../shared/index.ts';
import type { AuditEventQuery, AuditEventStore, StoredAuditEvent } from './audit-event-store.ts';

// The audit trail (SPEC "Audit trail and limits", issue 16): who did what to which object, and
// which trust decisions the broker took. Append-only: the port has no way to change or remove an
// entry (retention pruning is the store's own job).

/** Every action the trail records. Names are `<object>.<pastTense>`; the API and logs show them as is. */
export const auditActions = [
  'caCertificate.uploaded',
  'caCertificate.verified',
  'caCertificate.verificationFailed',
  'caCertificate.deleted',
  'crl.imported',
  'certificate.revoked',
  'certificate.revocationLifted',
  'agent.onboarded',
  'agent.disabled',
  'agent.enabled',
  'agent.deleted',
  'agentCertificate.issued',
  'agentCertificate.renewed',
  'agentCertificate.revoked',
  'agentToken.issued',
  'session.closed',
  'mqtt.connectRefused',
  'mqtt.clientBanned',
  'mqtt.banLifted',
  'rateLimit.exceeded',
  'deliveryJob.created',
  'deliveryJob.canceled',
] as const;
export type AuditAction = (typeof auditActions)[number];

export type AuditOutcome = 'success' | 'failure';

/** Who acted: a token's subject (REST, tenant applications), an agent's client id (MQTT), or trustgate itself. */
export interface AuditActor {
  readonly type: 'token' | 'agent' | 'system';
  /** Token `sub` (or '' when the token has none), client id, or 'trustgate'. */
  readonly id: string;
}

export interface AuditEntry {
  readonly time: Date;
  /** Undefined only for decisions no tenant can be told about (a refusal before any tenant is known):
   *  those are logged and counted but never listed by `GET /auditEvents`. */
  readonly tenant: TenantId | undefined;
  readonly actor: AuditActor;
  readonly action: AuditAction;
  /** What was acted on, as `<kind>:<id>` (e.g. `caCertificate:66a1…`, `agent:acme_pump-7`, `route:POST /caCertificates`). */
  readonly target: string;
  readonly outcome: AuditOutcome;
  /** The error code or decision reason (`verification.cnMismatch`, `certificateRevoked`, `caDeleted`…). */
  readonly reason?: string | undefined;
  readonly sourceAddress?: string | undefined;
  /** The REST request id (the logref of an error body); undefined for MQTT. */
  readonly requestId?: string | undefined;
  /** How many occurrences this entry stands for (aggregated MQTT refusals); 1 otherwise. */
  readonly count?: number | undefined;
}

/** Where entries go. `record` never throws for a storage problem: it logs it (an audit outage must
 *  not turn into a refused API call or connection); a use case that must record in the same
 *  transaction as its change does so through its store instead. */
export interface AuditTrail {
  record(entry: AuditEntry): Promise<void>;
}

/** The trail as the registry's use cases hold it. A change's entry is written by its store in the
 *  change's own transaction (docs/decisions/0023-audit-trail.md); once that committed, `logWritten`
 *  emits its log line. `record` is for entries with no change to join (a failed verification). */
export interface AuditRecorder extends AuditTrail {
  logWritten(entry: AuditEntry): void;
}

/** For tests: keeps what it is given (recorded or written by a store), newest last. */
export class InMemoryAuditTrail implements AuditRecorder, AuditEventStore {
  readonly entries: AuditEntry[] = [];
  readonly #ids = new WeakMap<AuditEntry, string>();
  #next = 0;

  async record(entry: AuditEntry): Promise<void> {
    this.#keep(entry);
  }

  logWritten(entry: AuditEntry): void {
    this.#keep(entry);
  }

  async list({ tenant, since, until, action, after, limit }: AuditEventQuery): Promise<StoredAuditEvent[]> {
    return this.entries.map((entry) => ({ ...entry, id: this.#ids.get(entry)!, count: entry.count ?? 1 }))
      .filter((event) => event.tenant === tenant && (since === undefined || event.time >= since) && (until === undefined || event.time < until)
        && (action === undefined || event.action === action)
        && (after === undefined || event.time < after.time || (event.time.getTime() === after.time.getTime() && event.id < after.id)))
      .sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1))
      .slice(0, limit);
  }

  async pruneBatch(before: Date, batchSize: number): Promise<number> {
    const old = this.entries.filter((entry) => entry.time < before).slice(0, batchSize);
    for (const entry of old) this.entries.splice(this.entries.indexOf(entry), 1);
    return old.length;
  }

  #keep(entry: AuditEntry): void {
    // Ids in insertion order, 24 hex digits like the database's.
    this.#ids.set(entry, (this.#next++).toString(16).padStart(24, '0'));
    this.entries.push(entry);
  }
}
