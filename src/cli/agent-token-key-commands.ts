import type { Command } from 'commander';
import { AGENT_TOKEN_KEY_ACTIVATION_MS, listAgentTokenKeys, rotateAgentTokenKey, type AgentTokenKeyView } from '../app/index.ts';
import { loadConfig } from '../config/index.ts';
import { systemClock } from '../shared/index.ts';
import { outputOf } from './cli-context.ts';
import { parseDurationSeconds } from './parse-duration.ts';

// `trustgate agent-token-key list|rotate` (issue 19 part 1; docs/deployment.md, "Agent access
// token keys"): run where the server's settings are (TRUSTGATE_DATA_DIR, TRUSTGATE_DATABASE_URL),
// like `trustgate backup`. The keys live in the database, so one rotation reaches every node.

const lineOf = (key: AgentTokenKeyView): string => `  ${key.kid}  ${key.state.padEnd(9)}  signs from ${key.signsFrom}`;

export const registerAgentTokenKeyCommands = (program: Command): void => {
  const group = program.command('agent-token-key')
    .description('the keys that sign agents\' access tokens (MQTT o/agm_v3/t): list them, rotate them');

  group.command('list')
    .description('the published agent token keys: the one signing, the next (after a rotation) and those still valid for tokens they signed')
    .addHelpText('after', '\nWith --json: [{kid, createdAt, signsFrom, state}] (state: signing, next or published).')
    .action(async (_options: unknown, command: Command) => {
      const keys = await listAgentTokenKeys(loadConfig(), systemClock);
      outputOf(command).result(keys, () => keys.length === 0 ? ['no agent token keys yet: the server makes the first at its start'] : keys.map(lineOf));
    });

  group.command('rotate')
    .description('add a new agent token signing key; the current one stays published until the last token it signed has expired (an hour)')
    .option('--activate-in <duration>', 'when the new key starts signing: every node publishes it first (they reread the keys every 10 s); 0s on a single node', `${AGENT_TOKEN_KEY_ACTIVATION_MS / 1000}s`)
    .addHelpText('after', '\nWith --json: {added, removed, keys}. Keys whose tokens have all expired are removed.')
    .action(async (options: { activateIn: string }, command: Command) => {
      const activateInMs = /^0+[smhd]?$/.test(options.activateIn.trim()) ? 0 : parseDurationSeconds(options.activateIn, '--activate-in') * 1000;
      const rotated = await rotateAgentTokenKey(loadConfig(), systemClock, activateInMs);
      outputOf(command).result(rotated, () => [
        `added agent token key ${rotated.added.kid}: it signs from ${rotated.added.signsFrom}`,
        ...(rotated.removed.length > 0 ? [`removed keys whose tokens have all expired: ${rotated.removed.join(', ')}`] : []),
        'published keys (/.well-known/jwks.json):',
        ...rotated.keys.map(lineOf),
      ]);
    });
};
