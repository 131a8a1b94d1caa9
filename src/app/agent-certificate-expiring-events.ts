import type { Logger } from 'pino';
import type { TenantId } from '../shared/index.ts';
import type { AgentCertificateExpiry } from '../storage/index.ts';
import { expiringEventId } from './expiring-event-id.ts';
import { runPeriodically, type PeriodicJob } from './run-periodically.ts';
import type { WebhookEventSinkHandle } from './webhook-event-sink.ts';

// certificate.expiring for agent certificates (issue 19 part 3, decision 0035): once a day, for the
// tenants with a webhook for it only, each agent whose current certificate expires within 30 days.
// The event id is derived from the agent, its certificate's notAfter and the day: every node runs
// this, and the outbox keeps one per webhook. At most MAX_PER_RUN agents a day, soonest first.

const DAY_MS = 86_400_000;
const WINDOW_MS = 30 * DAY_MS;
export const MAX_AGENT_EXPIRY_EVENTS_PER_RUN = 10_000;

export const startAgentCertificateExpiringEvents = ({
  sink, list, logger, now = () => new Date(), intervalMs = DAY_MS,
}: {
  sink: Pick<WebhookEventSinkHandle, 'emitOnce' | 'subscribedTenants'>;
  list: (tenants: readonly string[], from: Date, to: Date, limit: number) => Promise<AgentCertificateExpiry[]>;
  logger: Logger;
  now?: () => Date;
  intervalMs?: number;
}): PeriodicJob => runPeriodically(async () => {
  const tenants = sink.subscribedTenants('certificate.expiring');
  if (tenants.length === 0) return;
  const at = now();
  try {
    const expiring = await list(tenants, at, new Date(at.getTime() + WINDOW_MS), MAX_AGENT_EXPIRY_EVENTS_PER_RUN);
    for (const agent of expiring) {
      await sink.emitOnce({
        type: 'certificate.expiring', tenant: agent.tenant as TenantId, time: at,
        data: { kind: 'agentCertificate', agentId: agent.agentId, clientId: agent.clientId, notAfter: agent.notAfter.toISOString(), daysLeft: Math.floor((agent.notAfter.getTime() - at.getTime()) / DAY_MS) },
      }, expiringEventId(`agent:${agent.agentId}:${agent.notAfter.toISOString()}`, at));
    }
  } catch (error) {
    logger.warn({ err: (error as Error).message }, 'certificate.expiring events: could not read the agents; next run in a day');
  }
}, intervalMs);
