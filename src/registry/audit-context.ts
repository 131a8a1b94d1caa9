import type { TenantId } from '../shared/index.ts';
import type { AuditAction, AuditActor, AuditEntry, AuditOutcome } from './audit-trail.ts';

// Who asks and from where: what a front door knows about a call and the registry does not (the
// token's subject, the peer address, the request id). The use case turns it into audit entries.

export interface AuditContext {
  readonly actor: AuditActor;
  readonly sourceAddress?: string | undefined;
  /** The REST request id (the logref of an error body); undefined for MQTT. */
  readonly requestId?: string | undefined;
}

/** trustgate itself: a timer, a follower closing sessions, an in-process call with no front door. */
export const SYSTEM_ACTOR: AuditActor = { type: 'system', id: 'trustgate' };
export const systemContext: AuditContext = { actor: SYSTEM_ACTOR };

/** The context of an agent's own MQTT request (onboarding, renewal): the actor is its client id. */
export const agentContext = (clientId: string, sourceAddress?: string): AuditContext =>
  ({ actor: { type: 'agent', id: clientId }, sourceAddress });

export interface AuditFacts {
  readonly time: Date;
  readonly tenant: TenantId | undefined;
  readonly action: AuditAction;
  readonly target: string;
  readonly outcome?: AuditOutcome;
  readonly reason?: string | undefined;
}

/** One entry: what happened (facts) with who and where (context); success unless said otherwise. */
export const auditEntryOf = (context: AuditContext, { outcome = 'success', ...facts }: AuditFacts): AuditEntry => ({
  ...facts,
  outcome,
  actor: context.actor,
  sourceAddress: context.sourceAddress,
  requestId: context.requestId,
  count: 1,
});
