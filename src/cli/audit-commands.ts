import type { Command } from 'commander';
import { CliError, EXIT } from './cli-error.ts';
import { connectApi, outputOf } from './cli-context.ts';
import { formatTable } from './output.ts';
import { parseDurationSeconds } from './parse-duration.ts';

// `trustgate audit list`: the tenant's audit trail (GET /auditEvents, docs/audit.md), newest first.
// The pages of the API are followed until --limit events are shown.

interface AuditEventResource {
  id: string;
  time: string;
  tenant: string;
  actor: { type: string; id: string };
  action: string;
  target: string;
  outcome: string;
  reason: string | null;
  sourceAddress: string | null;
  requestId: string | null;
  count: number;
}

const TENANT_HELP = 'tenant to mint a dev token for, when no --token or TRUSTGATE_TOKEN is given';
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 100_000;
const API_PAGE_MAX = 1000;

/** An ISO time as is (the API checks it), or a duration back from now ("24h" = the last 24 hours). */
const instantOption = (value: string | undefined, option: string): string | undefined => {
  if (value === undefined) return undefined;
  if (/^\d+[smhd]?$/.test(value.trim())) return new Date(Date.now() - parseDurationSeconds(value, option) * 1000).toISOString();
  return value;
};

const limitOption = (value: string | undefined): number => {
  if (value === undefined) return DEFAULT_LIMIT;
  const limit = /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw new CliError(`--limit "${value}" is not a whole number from 1 to ${MAX_LIMIT}`, EXIT.usage);
  return limit;
};

export const registerAuditCommands = (program: Command): void => {
  const audit = program.command('audit').description('the audit trail: who changed what, and which trust decisions the broker took');
  audit.command('list')
    .description('list the tenant\'s audit events, newest first (needs an mcmqtt.admin token)')
    .option('--since <time>', 'only events at or after this ISO 8601 time (2026-12-03T03:00:00Z), or within this duration back from now (24h, 7d)')
    .option('--until <time>', 'only events before this ISO 8601 time, or before this duration back from now')
    .option('--action <action>', 'only this action (e.g. caCertificate.deleted; docs/audit.md lists them)')
    .option('--limit <n>', `at most this many events (default ${DEFAULT_LIMIT})`)
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (options: { since?: string; until?: string; action?: string; limit?: string; tenant?: string }, command: Command) => {
      const limit = limitOption(options.limit);
      const query = new URLSearchParams();
      const since = instantOption(options.since, '--since');
      const until = instantOption(options.until, '--until');
      if (since !== undefined) query.set('since', since);
      if (until !== undefined) query.set('until', until);
      if (options.action !== undefined) query.set('action', options.action);
      const api = await connectApi(command, options.tenant);
      const events: AuditEventResource[] = [];
      let cursor: string | null = null;
      do {
        const page = new URLSearchParams(query);
        page.set('limit', String(Math.min(API_PAGE_MAX, limit - events.length)));
        if (cursor !== null) page.set('cursor', cursor);
        const answer: { auditEvents: AuditEventResource[]; nextCursor: string | null } = await api.get(`/auditEvents?${page}`);
        events.push(...answer.auditEvents);
        cursor = answer.nextCursor;
      } while (cursor !== null && events.length < limit);
      outputOf(command).result(events, () => (events.length === 0
        ? 'no audit events match'
        : formatTable(['TIME', 'ACTION', 'OUTCOME', 'ACTOR', 'TARGET', 'REASON', 'SOURCE', 'REQUEST ID'],
          events.map((e) => [e.time, e.action, e.count > 1 ? `${e.outcome} x${e.count}` : e.outcome, `${e.actor.type}:${e.actor.id}`, e.target, e.reason, e.sourceAddress, e.requestId]))));
    });
};
