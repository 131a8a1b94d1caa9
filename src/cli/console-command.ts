import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { decodeJwt } from 'jose';
import { DEV_TOKEN_MAX_TTL_SECONDS, loadDevSigningKey, mintDevToken } from '../auth/index.ts';
import { loadConfig } from '../config/index.ts';
import { CliError, EXIT } from './cli-error.ts';
import { globalsOf, serverUrlOf } from './cli-context.ts';
import { parseTenant } from './cli-options.ts';
import { parseDurationSeconds } from './parse-duration.ts';

interface ConsoleOptions {
  tenant?: string;
  ttl: string;
  open?: boolean;
}

const CONSOLE_PATH = '/console/';

/** Where the token came from, said on stderr and in --json. */
type TokenSource = 'devIssuer' | 'token' | 'none';

// The browser's opener of this platform; detached, so the CLI exits while the browser runs.
const openInBrowser = (url: string): void => {
  const [command, args] = process.platform === 'darwin' ? ['open', [url]]
    : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]]
      : ['xdg-open', [url]];
  try {
    const child = spawn(command, args, { detached: true, stdio: 'ignore' });
    child.on('error', () => process.stderr.write(`could not start ${command}: open the URL yourself\n`));
    child.unref();
  } catch {
    process.stderr.write(`could not start ${command}: open the URL yourself\n`);
  }
};

/** The dev token for `tenant`, or why there is none (the console then asks for one). */
const devToken = async (tenant: string, ttlSeconds: number): Promise<{ token: string } | { reason: string }> => {
  const config = loadConfig();
  if (config.auth.jwksUrl) return { reason: 'TRUSTGATE_JWKS_URL is set: the server accepts tokens of that identity provider only' };
  let key;
  try {
    key = await loadDevSigningKey(resolve(config.storage.dataDir));
  } catch (cause) {
    throw new CliError((cause as Error).message, EXIT.config, { cause });
  }
  if (!key) return { reason: `no dev issuer key in ${resolve(config.storage.dataDir)} (TRUSTGATE_DATA_DIR of a server started there)` };
  return { token: await mintDevToken(key, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds }) };
};

// `trustgate console --tenant T`: the web console's URL, signed in. The token travels in the URL's
// fragment (#token=…), which a browser never sends to the server, so it never reaches an access
// log or a proxy; the console moves it to the tab's session storage and removes it from the address bar.
export const registerConsoleCommand = (program: Command): void => {
  program.command('console')
    .description('print the web console\'s URL, signed in with a short-lived admin token from the local dev issuer (or --token)')
    .option('--tenant <tenant>', 'tenant to sign in to (a dev token\'s ten claim)')
    .option('--ttl <duration>', `the dev token's lifetime: seconds, or 30m, 1h, 8h (at most ${DEV_TOKEN_MAX_TTL_SECONDS / 86_400}d)`, '1h')
    .option('--open', 'also open it in the default browser')
    .addHelpText('after', '\nThe URL is alone on stdout; with --json: {url, tenant, tokenSource, expiresAt}. Without a dev issuer key or --token,\nthe URL has no token and the console asks for one.')
    .action(async (options: ConsoleOptions, command: Command) => {
      const globals = globalsOf(command);
      const consoleUrl = `${serverUrlOf(globals)}${CONSOLE_PATH}`;
      const ttlSeconds = parseDurationSeconds(options.ttl);
      if (ttlSeconds > DEV_TOKEN_MAX_TTL_SECONDS) {
        throw new CliError(`--ttl ${options.ttl} is longer than a dev token may live (${DEV_TOKEN_MAX_TTL_SECONDS / 86_400}d)`, EXIT.usage);
      }
      if (options.tenant !== undefined) parseTenant(options.tenant);
      let token: string | undefined = globals.token ?? (process.env.TRUSTGATE_TOKEN?.trim() || undefined);
      let source: TokenSource = token === undefined ? 'none' : 'token';
      let note: string;
      if (token !== undefined) {
        note = 'signed in with the given token';
      } else if (options.tenant === undefined) {
        note = 'no token: paste one in the console (npx trustgate token --tenant <tenant>), or run trustgate console --tenant <tenant>';
      } else {
        const minted = await devToken(options.tenant, ttlSeconds);
        if ('token' in minted) {
          token = minted.token;
          source = 'devIssuer';
          note = `signed in to tenant ${options.tenant} with a dev admin token`;
        } else {
          note = `no token (${minted.reason}): paste one in the console`;
        }
      }
      let expiresAt: string | undefined;
      let tenant = options.tenant;
      if (token !== undefined) {
        try {
          const claims = decodeJwt(token);
          if (typeof claims.exp === 'number') expiresAt = new Date(claims.exp * 1000).toISOString();
          if (typeof claims.ten === 'string') tenant = claims.ten;
        } catch {
          throw new CliError('--token is not a JWT', EXIT.usage);
        }
        if (options.tenant !== undefined && tenant !== options.tenant) {
          throw new CliError(`--token is for tenant ${String(tenant)}, not --tenant ${options.tenant}`, EXIT.usage);
        }
      }
      const url = token === undefined ? consoleUrl : `${consoleUrl}#token=${token}`;
      if (globals.json) {
        process.stdout.write(`${JSON.stringify({ url, tenant: tenant ?? null, tokenSource: source, expiresAt: expiresAt ?? null })}\n`);
      } else {
        process.stdout.write(`${url}\n`);
        process.stderr.write(`${note}${expiresAt ? ` (expires ${expiresAt})` : ''}; the token is in the URL's #fragment, which the browser never sends to the server\n`);
      }
      if (options.open) openInBrowser(url);
    });
};
