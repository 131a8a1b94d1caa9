import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { connectApi, outputOf } from './cli-context.ts';
import { formatFields, formatTable, shortTime } from './output.ts';

// `trustgate webhook add|list|remove|deliveries` (issue 19 part 4; docs/webhooks.md) over
// /webhooks. `add` without --secret makes one (32 random bytes, hex) and prints it this once: the
// API never shows it again. A secret on the command line lands in the shell history and `ps`:
// prefer TRUSTGATE_WEBHOOK_SECRET or the generated one.

interface WebhookResource { id: string; url: string; events: string[]; createdAt: string }
interface DeliveryResource {
  id: string; eventId: string; type: string; status: string; attempts: number; nextAttemptAt: string | null; lastAttemptAt: string | null;
  lastResponseStatus: number | null; lastError: string | null; createdAt: string;
}

const TENANT_HELP = 'tenant to mint a dev token for, when no --token or TRUSTGATE_TOKEN is given';

export const registerWebhookCommands = (program: Command): void => {
  const webhook = program.command('webhook').description('webhooks: events (agent onboarded, CA verified, …) POSTed signed to your endpoint');
  webhook.command('add')
    .description('register a webhook (needs an mcmqtt.admin token); prints its id, and the secret when generated')
    .requiredOption('--endpoint <url>', 'the receiver: an https:// URL on a host of the server\'s TRUSTGATE_WEBHOOK_ALLOWED_HOSTS')
    .option('--events <list>', 'comma-separated event types, or * for all (docs/webhooks.md)', '*')
    .option('--secret <secret>', '16 to 256 characters; default TRUSTGATE_WEBHOOK_SECRET, else a new random one printed once')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (options: { endpoint: string; events: string; secret?: string; tenant?: string }, command: Command) => {
      const given = options.secret ?? process.env.TRUSTGATE_WEBHOOK_SECRET;
      const secret = given ?? randomBytes(32).toString('hex');
      const events = options.events.split(',').map((event) => event.trim()).filter((event) => event !== '');
      const api = await connectApi(command, options.tenant);
      const created = await api.post<WebhookResource>('/webhooks', { url: options.endpoint, events, secret });
      const shown = given === undefined ? { ...created, secret } : created;
      outputOf(command).result(shown, () => [
        `webhook ${created.id} registered`,
        ...formatFields([['  url', created.url], ['  events', created.events.join(', ')]]),
        ...(given === undefined ? [`  secret  ${secret}`, '  (shown this once: keep it to verify the Trustgate-Signature header)'] : []),
      ]);
    });
  webhook.command('list')
    .description('list the tenant\'s webhooks')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (options: { tenant?: string }, command: Command) => {
      const hooks = await (await connectApi(command, options.tenant)).get<WebhookResource[]>('/webhooks');
      outputOf(command).result(hooks, () => (hooks.length === 0 ? 'no webhooks'
        : formatTable(['ID', 'CREATED', 'EVENTS', 'URL'], hooks.map((hook) => [hook.id, shortTime(hook.createdAt), hook.events.join(','), hook.url]))));
    });
  webhook.command('remove')
    .description('delete a webhook and its pending deliveries (needs an mcmqtt.admin token)')
    .argument('<id>', 'the webhook\'s id')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (id: string, options: { tenant?: string }, command: Command) => {
      await (await connectApi(command, options.tenant)).delete(`/webhooks/${encodeURIComponent(id)}`);
      outputOf(command).result({ id, deleted: true }, () => `webhook ${id} deleted`);
    });
  webhook.command('deliveries')
    .description('a webhook\'s latest deliveries, newest first: attempts and the last answer')
    .argument('<id>', 'the webhook\'s id')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (id: string, options: { tenant?: string }, command: Command) => {
      const page = await (await connectApi(command, options.tenant)).get<{ deliveries: DeliveryResource[] }>(`/webhooks/${encodeURIComponent(id)}/deliveries?limit=100`);
      const rows = page.deliveries;
      outputOf(command).result(rows, () => (rows.length === 0 ? 'no deliveries yet'
        : formatTable(['CREATED', 'TYPE', 'STATUS', 'ATTEMPTS', 'LAST ANSWER', 'NEXT ATTEMPT', 'EVENT ID'],
          rows.map((row) => [shortTime(row.createdAt), row.type, row.status, row.attempts, row.lastResponseStatus ?? row.lastError, row.nextAttemptAt ? shortTime(row.nextAttemptAt) : null, row.eventId]))));
    });
};
