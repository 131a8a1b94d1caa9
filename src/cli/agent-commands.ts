import type { Command } from 'commander';
import type { ApiClient } from './api-client.ts';
import { addAgentIssueCommand } from './agent-issue-command.ts';
import { addAgentRenewCommand } from './agent-renew-command.ts';
import { CliError, EXIT } from './cli-error.ts';
import { connectApi, outputOf } from './cli-context.ts';
import { expiryTime, formatTable, shortTime } from './output.ts';
import { parseDurationSeconds } from './parse-duration.ts';

// `trustgate agent issue|renew|list|disable|enable|delete`: issuing is local (agent-issue-command.ts),
// renewing a managed-CA certificate goes over the API (agent-renew-command.ts);
// the rest manages the agents the broker onboarded, over the agents API.

interface AgentResource {
  id: string;
  clientId: string;
  commonName: string;
  caCertificateId: string;
  certificateFingerprint: string;
  certificate: { serialNumber: string | null; notBefore: string | null; notAfter: string | null; fingerprintSha256: string };
  enabled: boolean;
  online: boolean;
  firstConnectedAt: string;
  lastConnectedAt: string;
}

const TENANT_HELP = 'tenant to mint a dev token for, when no --token or TRUSTGATE_TOKEN is given';
const ID_HELP = 'the agent\'s id, or its client id (<tenant>_<name>)';
const RESOURCE_ID = /^[0-9a-f]{24}$/;

/** An agent id as given, or the id of the agent with this client id. */
const resolveAgentId = async (api: ApiClient, idOrClientId: string): Promise<string> => {
  if (RESOURCE_ID.test(idOrClientId)) return idOrClientId;
  const agent = (await api.get<AgentResource[]>('/agents')).find((candidate) => candidate.clientId === idOrClientId);
  if (!agent) {
    throw new CliError(`no agent with client id "${idOrClientId}" in this tenant; agents appear after their first connection ("trustgate agent list")`, EXIT.notFound);
  }
  return agent.id;
};

const agentPath = (id: string): string => `/agents/${encodeURIComponent(id)}`;

const addSetEnabledCommand = (agent: Command, name: 'enable' | 'disable'): void => {
  const isEnabled = name === 'enable';
  agent.command(name)
    .description(isEnabled ? 'let a disabled agent connect again' : 'refuse an agent\'s connections (its live session is closed) until it is enabled again')
    .argument('<id>', ID_HELP)
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (idOrClientId: string, options: { tenant?: string }, command: Command) => {
      const api = await connectApi(command, options.tenant);
      const updated = await api.patch<AgentResource>(agentPath(await resolveAgentId(api, idOrClientId)), { enabled: isEnabled });
      outputOf(command).result(updated, () => `${isEnabled ? 'enabled' : 'disabled'} agent ${updated.clientId} (${updated.id})`);
    });
};

export const registerAgentCommands = (program: Command): void => {
  const agent = program.command('agent').description('agents: issue certificates locally; list, disable, enable, delete onboarded agents');
  addAgentIssueCommand(agent);
  addAgentRenewCommand(agent);

  agent.command('list')
    .description('list the agents the broker has onboarded (on their first connection); certificates expiring within 30 days are marked')
    .option('--expiring <duration>', 'only agents whose certificate expires within this time from now (e.g. 30d, 12h), expired ones included')
    .option('--ca <id>', 'only agents whose certificate this CA issued (during a CA rollover: who still uses the old one)')
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (options: { tenant?: string; expiring?: string; ca?: string }, command: Command) => {
      const query = new URLSearchParams();
      if (options.expiring !== undefined) query.set('expiringBefore', new Date(Date.now() + parseDurationSeconds(options.expiring, '--expiring') * 1000).toISOString());
      if (options.ca !== undefined) query.set('caCertificateId', options.ca);
      const filtered = query.size > 0;
      const agents = await (await connectApi(command, options.tenant)).get<AgentResource[]>(`/agents${filtered ? `?${query}` : ''}`);
      outputOf(command).result(agents, () => (agents.length === 0
        ? (filtered ? 'no agents match' : 'no agents yet; an agent is onboarded on its first connection to the broker')
        : formatTable(['ID', 'CLIENT ID', 'ENABLED', 'ONLINE', 'LAST CONNECTED', 'CERTIFICATE EXPIRES'],
          agents.map((a) => [a.id, a.clientId, a.enabled ? 'yes' : 'no', a.online ? 'yes' : 'no', shortTime(a.lastConnectedAt),
            // Unknown for an agent onboarded before trustgate kept it, until its next connection.
            a.certificate?.notAfter ? expiryTime(a.certificate.notAfter) : '- (known at its next connection)']))));
    });

  addSetEnabledCommand(agent, 'disable');
  addSetEnabledCommand(agent, 'enable');

  agent.command('delete')
    .description('delete an agent record (its live session is closed; its certificate can onboard it again unless its CA is deleted)')
    .argument('<id>', ID_HELP)
    .option('--tenant <tenant>', TENANT_HELP)
    .action(async (idOrClientId: string, options: { tenant?: string }, command: Command) => {
      const api = await connectApi(command, options.tenant);
      const id = await resolveAgentId(api, idOrClientId);
      await api.delete(agentPath(id));
      outputOf(command).result({ id, deleted: true }, () => `deleted agent ${idOrClientId === id ? id : `${idOrClientId} (${id})`}`);
    });
};
