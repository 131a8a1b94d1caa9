import type { Command } from 'commander';
import { CliError, EXIT } from './cli-error.ts';
import { connectApi, outputOf } from './cli-context.ts';
import { formatFields, formatTable } from './output.ts';
import { parseDurationSeconds } from './parse-duration.ts';

// `trustgate command send|list|show` (issue 19 part 4, docs/commanding.md): the Commanding API
// (/api/commanding/v3/deliveryJobs) from the command line. `send` prints the job id; with --wait
// it follows the job until it is EXECUTED, FAILED or CANCELED (exit 1 unless EXECUTED).

export const COMMANDING_BASE_PATH = '/api/commanding/v3';
const TENANT_HELP = 'tenant to mint a dev token for, when no --token or TRUSTGATE_TOKEN is given';
const POLL_MS = 500;
const TERMINAL = new Set(['EXECUTED', 'FAILED', 'CANCELED']);

interface DeliveryJob {
  id: string;
  name: string;
  clientIds: string[];
  status: string;
  createdAt: string;
  updatedAt: string;
  data: unknown;
}
interface CommandView {
  id: string;
  clientId: string;
  status: string;
  updatedAt: string;
  deliveredAt: string | null;
  response: unknown;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((id) => id.trim()).filter((id) => id !== '')];

const dataOption = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(`--data is not JSON: ${text.slice(0, 80)} (quote it: --data '{"execute_command": "START"}')`, EXIT.usage);
  }
};

const commandRows = (commands: readonly CommandView[]) =>
  formatTable(['COMMAND', 'CLIENT ID', 'STATUS', 'UPDATED', 'RESPONSE'],
    commands.map((c) => [c.id, c.clientId, c.status, c.updatedAt, c.response === null ? '' : JSON.stringify(c.response).slice(0, 80)]));

export const registerCommandCommands = (program: Command): void => {
  const command = program.command('command').description('MindConnect commanding: send commands to agents and follow them (docs/commanding.md)');

  command.command('send')
    .description('send a command to up to 20 agents; prints the delivery job id (needs an mcmqtt.admin token)')
    .requiredOption('--client-id <id>', 'an agent\'s client id (repeat, or separate with commas; at most 20)', collect)
    .requiredOption('--data <json>', 'the command payload, JSON (at most 10 KiB), e.g. \'{"execute_command": "START"}\'')
    .option('--name <name>', 'the job\'s name (default: "command")')
    .option('--wait', 'follow the job until it is EXECUTED, FAILED or CANCELED (exit 1 unless EXECUTED)')
    .option('--timeout <duration>', 'with --wait: give up after this long (e.g. 30s, 5m; default 5m)')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (options: { clientId: string[]; data: string; name?: string; wait?: boolean; timeout?: string; tenant?: string }, cmd: Command) => {
      const data = dataOption(options.data);
      const timeoutMs = parseDurationSeconds(options.timeout ?? '5m', '--timeout') * 1000;
      const api = (await connectApi(cmd, options.tenant)).at(COMMANDING_BASE_PATH);
      const output = outputOf(cmd);
      let job = await api.post<DeliveryJob>('/deliveryJobs', { name: options.name ?? 'command', clientIds: options.clientId, data });
      if (!options.wait) {
        output.result(job, () => job.id);
        return;
      }
      output.note(`delivery job ${job.id} created; waiting for its agents (Ctrl-C stops waiting, not the job)`);
      const deadline = Date.now() + timeoutMs;
      let last = '';
      while (!TERMINAL.has(job.status)) {
        if (Date.now() > deadline) throw new CliError(`delivery job ${job.id} is still ${job.status} after ${options.timeout ?? '5m'}; follow it with "trustgate command show ${job.id}"`, EXIT.unavailable);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        job = await api.get<DeliveryJob>(`/deliveryJobs/${job.id}`);
        const { commands } = await api.get<{ commands: CommandView[] }>(`/deliveryJobs/${job.id}/commands`);
        const summary = commands.map((c) => `${c.clientId}: ${c.status}`).join(', ');
        if (summary !== last) output.note(summary);
        last = summary;
      }
      const { commands } = await api.get<{ commands: CommandView[] }>(`/deliveryJobs/${job.id}/commands`);
      output.result({ ...job, commands }, () => [job.id, `status: ${job.status}`, ...commandRows(commands)]);
      if (job.status !== 'EXECUTED') throw new CliError(`delivery job ${job.id} ended ${job.status}`, EXIT.refused);
    });

  command.command('list')
    .description('list the tenant\'s delivery jobs, newest first')
    .option('--limit <n>', 'at most this many jobs (1-500, default 50)')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (options: { limit?: string; tenant?: string }, cmd: Command) => {
      const api = (await connectApi(cmd, options.tenant)).at(COMMANDING_BASE_PATH);
      const page = await api.get<{ deliveryJobs: DeliveryJob[] }>(`/deliveryJobs?limit=${encodeURIComponent(options.limit ?? '50')}`);
      outputOf(cmd).result(page.deliveryJobs, () => (page.deliveryJobs.length === 0
        ? 'no delivery jobs'
        : formatTable(['ID', 'NAME', 'STATUS', 'AGENTS', 'CREATED'], page.deliveryJobs.map((j) => [j.id, j.name, j.status, j.clientIds.length, j.createdAt]))));
    });

  command.command('show')
    .description('show a delivery job and each of its commands (status, the agent\'s last response)')
    .argument('<jobId>', 'the delivery job id ("command send" printed it)')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (jobId: string, options: { tenant?: string }, cmd: Command) => {
      const api = (await connectApi(cmd, options.tenant)).at(COMMANDING_BASE_PATH);
      const job = await api.get<DeliveryJob>(`/deliveryJobs/${encodeURIComponent(jobId)}`);
      const { commands } = await api.get<{ commands: CommandView[] }>(`/deliveryJobs/${encodeURIComponent(jobId)}/commands`);
      outputOf(cmd).result({ ...job, commands }, () => [
        ...formatFields([['id', job.id], ['name', job.name], ['status', job.status], ['created', job.createdAt], ['updated', job.updatedAt], ['data', JSON.stringify(job.data).slice(0, 200)]]),
        '',
        ...commandRows(commands),
      ]);
    });
};
