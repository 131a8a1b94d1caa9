import type { AuditAction, AuditEntry } from './audit-trail.ts';
import type { WebhookEvent, WebhookEventType } from './webhook-events.ts';

// Events out from the audit trail (issue 19 part 3, decision 0035): every store writes a change's
// audit entry inside the change's transaction, so mapping the entry to an event there puts the
// event in the same transaction (the outbox) without touching each store. Only successful
// changes are events; `data` holds ids and states read from the entry's target, nothing else.

const EVENT_OF_ACTION: Partial<Record<AuditAction, WebhookEventType>> = {
  'agent.onboarded': 'agent.onboarded',
  'agent.disabled': 'agent.disabled',
  'agent.deleted': 'agent.deleted',
  'caCertificate.verified': 'caCertificate.verified',
  'caCertificate.deleted': 'caCertificate.deleted',
  'certificate.revoked': 'certificate.revoked',
  'agentCertificate.revoked': 'certificate.revoked',
};

/** The target `<kind>:<id>` as event fields: the id under the name the API uses for that kind. */
const fieldsOfTarget = (target: string): Record<string, string> => {
  const colon = target.indexOf(':');
  const kind = target.slice(0, colon);
  const id = target.slice(colon + 1);
  switch (kind) {
    case 'agent': return { clientId: id };
    case 'caCertificate': return { caCertificateId: id };
    case 'agentCertificate': return { agentCertificateId: id };
    case 'certificate': {
      // certificate:<caCertificateId>/<serialNumber> (revocation by serial).
      const slash = id.indexOf('/');
      return slash < 0 ? { caCertificateId: id } : { caCertificateId: id.slice(0, slash), serialNumber: id.slice(slash + 1) };
    }
    default: return {};
  }
};

/** The webhook event an audit entry stands for; undefined for an action no webhook hears of, a failure, or no tenant. */
export const webhookEventOfAuditEntry = (entry: AuditEntry): WebhookEvent | undefined => {
  const type = EVENT_OF_ACTION[entry.action];
  if (type === undefined || entry.outcome !== 'success' || entry.tenant === undefined) return undefined;
  const data: Record<string, unknown> = fieldsOfTarget(entry.target);
  if (entry.action === 'agent.onboarded' && entry.reason?.startsWith('caCertificate:')) data.caCertificateId = entry.reason.slice('caCertificate:'.length);
  if (type === 'certificate.revoked') data.reason = entry.reason ?? null;
  if (type === 'agent.disabled') data.enabled = false;
  return { type, tenant: entry.tenant, time: entry.time, data };
};
