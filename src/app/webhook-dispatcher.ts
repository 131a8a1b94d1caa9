import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import type { Logger } from 'pino';
import type { WebhookTargetPolicy } from '../registry/index.ts';
import type { ClaimedDelivery, DeliveryOutcome, KyselyWebhookOutbox } from '../storage/index.ts';
import { postWebhook, type WebhookPost, type WebhookResponse } from './post-webhook.ts';
import { webhookAttemptErrorOf } from './webhook-attempt-error.ts';

// The webhook dispatcher (issue 19 part 3, decision 0035): every node drains the outbox. A pass
// asks which webhooks have due deliveries (leaving out those this node already sends to at the
// per-target cap), claims a few rows of each, and attempts them concurrently, at most
// `concurrency` at a time on this node and `perTarget` per webhook: a slow or dead target holds
// at most `perTarget` slots for at most `timeoutMs` each, and its failures back off, so other
// tenants' deliveries keep flowing. A 2xx is delivered (never sent again); anything else (a 3xx
// too: no redirect is followed, no answer, a refused address) is retried with exponential
// backoff and jitter until `maxAgeMs` after the event, then failed.

export interface WebhookDispatcherSettings {
  readonly policy: WebhookTargetPolicy;
  readonly timeoutMs: number;
  readonly pollMs: number;
  /** The first retry's delay; each next one doubles, capped at an hour, with up to 50 % jitter down. */
  readonly retryBaseMs: number;
  readonly maxAgeMs: number;
  readonly concurrency: number;
  readonly perTarget: number;
  /** How long finished (delivered or failed) rows stay listed. */
  readonly keepFinishedMs: number;
}

export interface WebhookDispatcher {
  /** Runs a pass soon (a new event was enqueued on this node). */
  kick(): void;
  close(): Promise<void>;
}

const MAX_RETRY_DELAY_MS = 3_600_000;
const PRUNE_EVERY_MS = 3_600_000;
const PRUNE_BATCH = 1000;

/** When the attempt after `attempts` failed ones is due, or undefined when the event is too old to try again. */
export const nextAttemptAfter = (
  { attempts, createdAt, now, retryBaseMs, maxAgeMs, random }: { attempts: number; createdAt: Date; now: Date; retryBaseMs: number; maxAgeMs: number; random: () => number },
): Date | undefined => {
  const deadline = createdAt.getTime() + maxAgeMs;
  if (now.getTime() >= deadline) return undefined;
  const delay = Math.min(MAX_RETRY_DELAY_MS, retryBaseMs * 2 ** Math.min(attempts - 1, 30)) * (0.5 + random() / 2);
  return new Date(Math.min(now.getTime() + delay, deadline));
};

export const startWebhookDispatcher = ({
  outbox, settings, log, metrics, now = () => new Date(), random = Math.random, post = postWebhook,
}: {
  outbox: KyselyWebhookOutbox;
  settings: WebhookDispatcherSettings;
  log: Logger;
  metrics: MetricsRegistry;
  now?: () => Date;
  random?: () => number;
  post?: (post: WebhookPost) => Promise<WebhookResponse>;
}): WebhookDispatcher => {
  const deliveries = new Counter({
    name: 'trustgate_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: delivered (a 2xx), retry (another attempt is scheduled), failed (given up after TRUSTGATE_WEBHOOK_MAX_AGE_MS)',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });
  for (const outcome of ['delivered', 'retry', 'failed']) deliveries.labels(outcome).inc(0);
  const leaseMs = settings.timeoutMs * 2 + 30_000;
  const inFlight = new Map<string, number>();
  // Security review: the per-webhook cap alone let one tenant's 10 slow webhooks (an allow-listed host
  // on a port that drops packets) hold every slot of the node; a tenant holds at most half of them.
  const perTenant = Math.max(settings.perTarget, Math.floor(settings.concurrency / 2));
  const inFlightByTenant = new Map<string, number>();
  const attempts = new Set<Promise<void>>();
  const shutdown = new AbortController();
  let running = 0;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> | undefined;
  let again = false;
  let isClosed = false;
  let prunedAt = 0;
  let pruneBacklog = false;
  // A database outage fails every pass: one error line a minute, not one per poll.
  let passErrorLoggedAt = Number.NEGATIVE_INFINITY;

  const attempt = async (delivery: ClaimedDelivery): Promise<void> => {
    let outcome: DeliveryOutcome;
    try {
      const target = await outbox.target(delivery.webhookId);
      if (!target) throw new Error('the webhook was deleted');
      const response = await post({
        url: target.url, secret: target.secret, body: delivery.body, eventId: delivery.eventId, deliveryId: delivery.id,
        policy: settings.policy, timeoutMs: settings.timeoutMs, now: now(), signal: shutdown.signal,
      });
      if (response.status >= 200 && response.status < 300) {
        outcome = { status: 'delivered', responseStatus: response.status, responseBody: response.body };
      } else {
        outcome = retryOrFail(delivery, { responseStatus: response.status, responseBody: response.body, error: response.status >= 300 && response.status < 400 ? 'redirect not followed' : undefined });
      }
    } catch (error) {
      // Shut down mid-attempt: due again at once, for whichever node runs next.
      if (shutdown.signal.aborted) outcome = { status: 'pending', nextAttemptAt: now(), error: 'interrupted by shutdown' };
      else {
        // The tenant reads the reason in its deliveries: a kind of failure, never an address (security review).
        log.debug({ deliveryId: delivery.id, webhookId: delivery.webhookId, err: (error as Error).message }, 'webhook attempt got no answer');
        outcome = retryOrFail(delivery, { error: webhookAttemptErrorOf(error) });
      }
    }
    const label = outcome.status === 'pending' ? 'retry' : outcome.status;
    deliveries.labels(label).inc();
    if (!await outbox.complete(delivery, outcome, now())) {
      log.warn({ deliveryId: delivery.id }, 'webhook delivery outcome not recorded: its claim had expired and another node took it');
    }
    if (outcome.status === 'failed') log.warn({ deliveryId: delivery.id, webhookId: delivery.webhookId, tenant: delivery.tenant, attempts: delivery.attempts, error: outcome.error, status: outcome.responseStatus }, 'webhook delivery failed for good');
  };

  const retryOrFail = (delivery: ClaimedDelivery, facts: Omit<DeliveryOutcome, 'status'>): DeliveryOutcome => {
    const next = nextAttemptAfter({ attempts: delivery.attempts, createdAt: delivery.createdAt, now: now(), retryBaseMs: settings.retryBaseMs, maxAgeMs: settings.maxAgeMs, random });
    return next ? { ...facts, status: 'pending', nextAttemptAt: next } : { ...facts, status: 'failed' };
  };

  const start = (delivery: ClaimedDelivery): void => {
    running += 1;
    inFlight.set(delivery.webhookId, (inFlight.get(delivery.webhookId) ?? 0) + 1);
    inFlightByTenant.set(delivery.tenant, (inFlightByTenant.get(delivery.tenant) ?? 0) + 1);
    const work = attempt(delivery).catch((error: unknown) => log.error({ err: error, deliveryId: delivery.id }, 'webhook delivery attempt could not be recorded (it is due again after its lease)'))
      .finally(() => {
        running -= 1;
        const left = (inFlight.get(delivery.webhookId) ?? 1) - 1;
        if (left === 0) inFlight.delete(delivery.webhookId);
        else inFlight.set(delivery.webhookId, left);
        const tenantLeft = (inFlightByTenant.get(delivery.tenant) ?? 1) - 1;
        if (tenantLeft === 0) inFlightByTenant.delete(delivery.tenant);
        else inFlightByTenant.set(delivery.tenant, tenantLeft);
        attempts.delete(work);
        kick();
      });
    attempts.add(work);
  };

  const onePass = async (): Promise<void> => {
    const at = now();
    // Hourly, one batch per pass; a full batch means more are due, so the next passes go on
    // (security review: one batch an hour fell behind any flood above 1000 finished rows an hour).
    if (pruneBacklog || at.getTime() - prunedAt >= PRUNE_EVERY_MS) {
      prunedAt = at.getTime();
      pruneBacklog = await outbox.pruneFinished(new Date(at.getTime() - settings.keepFinishedMs), PRUNE_BATCH) === PRUNE_BATCH;
    }
    const free = settings.concurrency - running;
    if (free <= 0) return;
    const busy = [...inFlight].filter(([, count]) => count >= settings.perTarget).map(([id]) => id);
    const busyTenants = [...inFlightByTenant].filter(([, count]) => count >= perTenant).map(([tenant]) => tenant);
    const webhooks = await outbox.dueWebhooks(at, free, busy, busyTenants);
    let left = free;
    for (const { webhookId, tenant } of webhooks) {
      if (isClosed || left <= 0) break;
      const room = Math.min(left, settings.perTarget - (inFlight.get(webhookId) ?? 0), perTenant - (inFlightByTenant.get(tenant) ?? 0));
      if (room <= 0) continue;
      const claimed = await outbox.claim(webhookId, now(), new Date(now().getTime() + leaseMs), room);
      left -= claimed.length;
      for (const delivery of claimed) start(delivery);
    }
  };

  const schedule = (ms: number): void => {
    if (isClosed) return;
    clearTimeout(timer);
    timer = setTimeout(run, ms);
  };

  function run(): void {
    if (isClosed) return;
    if (pass) {
      again = true;
      return;
    }
    pass = onePass().catch((error: unknown) => {
      if (Date.now() - passErrorLoggedAt < 60_000) return;
      passErrorLoggedAt = Date.now();
      log.error({ err: error }, 'webhook dispatcher pass failed; retried at every poll (logged once a minute)');
    })
      .finally(() => {
        pass = undefined;
        if (again) {
          again = false;
          schedule(0);
        } else schedule(settings.pollMs);
      });
  }

  function kick(): void {
    if (!isClosed && running < settings.concurrency) run();
  }

  schedule(0);
  return {
    kick,
    async close() {
      isClosed = true;
      clearTimeout(timer);
      shutdown.abort();
      await pass;
      await Promise.allSettled([...attempts]);
    },
  };
};
