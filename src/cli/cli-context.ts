import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { decodeJwt } from 'jose';
import { loadDevSigningKey, mintDevToken, type DevSigningKey } from '../auth/index.ts';
import { loadConfig, type Config } from '../config/index.ts';
import { ApiClient, baseUrlOf, DEFAULT_URL } from './api-client.ts';
import { CliError, EXIT } from './cli-error.ts';
import { parseTenant } from './cli-options.ts';
import { Output } from './output.ts';

// What every command gets from the global options (main.ts): where the server is, how to
// authenticate, how to print.

export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
  verbose?: boolean;
}

export const GLOBAL_HELP = {
  url: `server URL (default: TRUSTGATE_URL, else ${DEFAULT_URL})`,
  token: 'Bearer token (default: TRUSTGATE_TOKEN). Without one, a command given --tenant mints a short-lived dev token '
    + 'from the local dev issuer in TRUSTGATE_DATA_DIR (default ./data): that works against a server started on the same data dir',
  json: 'machine output: one JSON document on stdout',
  verbose: 'print stack traces on failure',
} as const;

// A dev token only has to outlive one command (a --count run included).
const DEV_TOKEN_TTL_SECONDS = 15 * 60;

export const globalsOf = (command: Command): GlobalOptions => command.optsWithGlobals<GlobalOptions>();

export const outputOf = (command: Command): Output => new Output(globalsOf(command).json === true);

export const serverUrlOf = (globals: GlobalOptions): string =>
  baseUrlOf(globals.url ?? (process.env.TRUSTGATE_URL?.trim() || DEFAULT_URL));

const tenantClaimOf = (token: string): unknown => {
  try {
    return decodeJwt(token).ten;
  } catch {
    return undefined; // not a JWT we can read: the server will say what is wrong with it
  }
};

/**
 * The dev issuer key of TRUSTGATE_DATA_DIR, which `trustgate serve` creates there on its first
 * start. The CLI never creates one: a token signed by a key the server does not hold is refused
 * (401), so a missing key is reported here (77) with the directory, `forWhat` saying what needed it.
 */
export const loadLocalDevKey = async (forWhat: string): Promise<{ key: DevSigningKey; dataDir: string; config: Config }> => {
  const config = loadConfig();
  const dataDir = resolve(config.storage.dataDir);
  let key;
  try {
    key = await loadDevSigningKey(dataDir);
  } catch (cause) {
    throw new CliError((cause as Error).message, EXIT.config, { cause });
  }
  if (!key) {
    const where = existsSync(dataDir) ? `${dataDir} has none` : `${dataDir} does not exist`;
    throw new CliError(`${forWhat} needs the dev issuer key of the server's data dir, and ${where} `
      + '(set TRUSTGATE_DATA_DIR to the directory "trustgate serve" uses; the server creates the key on its first start)', EXIT.noPermission);
  }
  return { key, dataDir, config };
};

const mintLocalDevToken = async (tenant: string): Promise<{ token: string; hint: string }> => {
  const { key, dataDir, config } = await loadLocalDevKey(`no token: pass --token <jwt> or set TRUSTGATE_TOKEN; a dev token for --tenant ${tenant}`);
  if (config.auth.jwksUrl) {
    process.stderr.write('warning: TRUSTGATE_JWKS_URL is set, so the server accepts tokens of that identity provider, not this dev token\n');
  }
  const token = await mintDevToken(key, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: DEV_TOKEN_TTL_SECONDS });
  return { token, hint: `the dev token was minted from ${dataDir}: is the server running on that TRUSTGATE_DATA_DIR?` };
};

/**
 * An API client for this command: the token is --token, else TRUSTGATE_TOKEN, else a dev token for
 * `tenant` from the local dev issuer. A token for another tenant than --tenant is refused here.
 */
export const connectApi = async (command: Command, tenant: string | undefined): Promise<ApiClient> => {
  const globals = globalsOf(command);
  const baseUrl = serverUrlOf(globals);
  const checkedTenant = tenant === undefined ? undefined : parseTenant(tenant);
  const given = globals.token ?? process.env.TRUSTGATE_TOKEN;
  if (given !== undefined && given.trim() !== '') {
    const token = given.trim();
    const claimed = tenantClaimOf(token);
    if (checkedTenant !== undefined && typeof claimed === 'string' && claimed !== checkedTenant) {
      throw new CliError(`the token is for tenant "${claimed}", not --tenant ${checkedTenant}; drop --tenant or use a token of that tenant`, EXIT.usage);
    }
    const source = globals.token !== undefined ? '--token' : 'TRUSTGATE_TOKEN';
    return new ApiClient({ baseUrl, token, tokenHint: `check ${source}` });
  }
  if (checkedTenant === undefined) {
    throw new CliError('no token: pass --token <jwt>, set TRUSTGATE_TOKEN, or add --tenant <tenant> to mint a dev token from the local dev issuer (TRUSTGATE_DATA_DIR)', EXIT.noPermission);
  }
  const { token, hint } = await mintLocalDevToken(checkedTenant);
  return new ApiClient({ baseUrl, token, tokenHint: hint });
};
