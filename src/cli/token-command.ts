import type { Command } from 'commander';
import { decodeJwt } from 'jose';
import { DEV_TOKEN_MAX_TTL_SECONDS, mintDevToken, SCOPES } from '../auth/index.ts';
import { CliError, EXIT } from './cli-error.ts';
import { globalsOf, loadLocalDevKey } from './cli-context.ts';
import { parseTenant } from './cli-options.ts';
import { parseDurationSeconds } from './parse-duration.ts';

interface TokenOptions {
  tenant: string;
  scope: string[];
  ttl: string;
}

// `trustgate token --tenant T`: a token from the local dev issuer of this data dir, on stdout
// alone so that TOKEN=$(npx trustgate token --tenant T) works. It never creates the key (the server does).
export const registerTokenCommand = (program: Command): void => {
  program.command('token')
    .description('mint a Bearer token from the local dev issuer (accepted by a server on the same data dir)')
    .requiredOption('--tenant <tenant>', 'tenant (the token\'s ten claim)')
    .option('--scope <scope...>', 'scopes: mcmqtt.admin (default) or mcmqtt.read', ['mcmqtt.admin'])
    .option('--ttl <duration>', `lifetime: seconds, or 90m, 1h, 7d (at most ${DEV_TOKEN_MAX_TTL_SECONDS / 86_400}d)`, '1h')
    .addHelpText('after', '\nWith --json: {token, tenant, scopes, expiresAt}. Usage: export TRUSTGATE_TOKEN=$(trustgate token --tenant acme)')
    .action(async (options: TokenOptions, command: Command) => {
      parseTenant(options.tenant);
      const ttlSeconds = parseDurationSeconds(options.ttl);
      if (ttlSeconds > DEV_TOKEN_MAX_TTL_SECONDS) {
        throw new CliError(`--ttl ${options.ttl} is longer than a dev token may live (${DEV_TOKEN_MAX_TTL_SECONDS / 86_400}d): the server refuses such tokens. Mint a shorter one, and a new one when it expires.`, EXIT.usage);
      }
      const scopes = options.scope.flatMap((s) => s.split(/[\s,]+/)).filter((s) => s !== '');
      const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
      if (scopes.length === 0 || unknown.length > 0) {
        throw new CliError(`--scope ${unknown.join(' ') || '(empty)'} is not a scope: use ${SCOPES.join(' or ')}`, EXIT.usage);
      }
      // The server creates the key on its first start; a key made here would sign tokens it refuses.
      const { key, config } = await loadLocalDevKey('trustgate token');
      if (config.auth.jwksUrl) {
        process.stderr.write('warning: TRUSTGATE_JWKS_URL is set, so the server accepts tokens of that identity provider, not this dev token\n');
      }
      const token = await mintDevToken(key, { tenant: options.tenant, scopes, ttlSeconds });
      if (globalsOf(command).json) {
        const expiresAt = new Date(decodeJwt(token).exp! * 1000).toISOString();
        process.stdout.write(`${JSON.stringify({ token, tenant: options.tenant, scopes, expiresAt })}\n`);
      } else {
        process.stdout.write(`${token}\n`);
      }
    });
};
