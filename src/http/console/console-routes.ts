import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, RouteOptions } from 'fastify';
import fastifyStatic from '@fastify/static';
import { errorBody } from '../error-body.ts';
import type { SignInLink } from '../../auth/index.ts';
import { DomainError } from '../../shared/index.ts';

// The web console (docs/console.md): static ES modules and CSS from the repository's console/
// folder, no build step and no CDN (decision 0026). The pages are public like any static file —
// they hold no data; every API call they make carries the Bearer token the operator pasted.

export const CONSOLE_PATH = '/console';
export const CONSOLE_ROOT = fileURLToPath(new URL('../../../console/', import.meta.url));

/**
 * The console's own policy, stricter than the API's: scripts, styles and connections from this
 * origin only (no inline script or style at all), never framed, no <base>, no form posts.
 */
export const CONSOLE_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'", "object-src 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), usb=(), payment=()',
  // Small files, revalidated on every load: an upgraded server never runs yesterday's page.
  'cache-control': 'no-cache',
};

const setSecurityHeaders = (reply: FastifyReply): void => {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
};

// @fastify/static cannot give its routes a config: they are marked public here, by path and only
// for GET/HEAD, before authenticate() checks that every route declares its access (as Swagger UI's).
export const markConsolePublic = (route: RouteOptions): void => {
  const methods = [route.method].flat();
  const isConsole = route.url === CONSOLE_PATH || route.url.startsWith(`${CONSOLE_PATH}/`);
  if (isConsole && methods.every((method) => method === 'GET' || method === 'HEAD') && route.config?.scope === undefined) {
    route.config = { ...route.config, public: true };
  }
};

/** The regular files under `root`, as URL paths (`/js/app.js`): no symlink, to a file or a folder, counts. */
const regularFilesUnder = async (root: string): Promise<Set<string>> => {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  return new Set(entries.filter((entry) => entry.isFile()).map((entry) => `/${relative(root, join(entry.parentPath, entry.name)).split(sep).join('/')}`));
};

export interface ConsoleRoutesOptions {
  /** The folder served; the repository's console/ unless a test gives another. */
  readonly root?: string;
  /** The start's one-time sign-in link (local dev issuer only); without it POST /console/sign-in is a 404. */
  readonly signInLink?: SignInLink;
}

// 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6: the peer of the TCP connection itself, never a
// forwarded-for header, which any client can write.
const isLoopback = (address: string | undefined): boolean =>
  address !== undefined && (/^(::ffff:)?127\.\d+\.\d+\.\d+$/i.test(address) || address === '::1');

/** Registered with `{ prefix: CONSOLE_PATH }`: its hooks and its 404 cover everything under /console. */
export const consoleRoutes: FastifyPluginAsync<ConsoleRoutesOptions> = async (app, { signInLink, root = CONSOLE_ROOT }) => {
  // @fastify/static follows symlinks, to files and folders alike: a link placed in console/ would
  // serve whatever it points to. Only regular files found at start are served (review of issue 17).
  const servable = await regularFilesUnder(root);
  if (!servable.has('/index.html')) throw new Error(`${root}index.html is missing or not a regular file`);
  const indexHtml = await readFile(join(root, 'index.html'), 'utf8');
  // onSend, after any server-wide header hook (helmet sets its own at onRequest): the console's
  // headers are the last word on its own routes, errors and 404s included.
  app.addHook('onSend', async (request, reply, payload) => {
    setSecurityHeaders(reply);
    // The sign-in's answer holds a token: kept by no cache at all.
    if (request.method === 'POST') reply.header('cache-control', 'no-store');
    return payload;
  });
  // One route per file found at start (wildcard: false): nothing outside the folder, no directory
  // listing, and a file added later is not served until a restart.
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    allowedPath: (pathName: string) => servable.has(pathName),
    wildcard: false,
    index: false,
    decorateReply: false,
    serveDotFiles: false,
    etag: true,
    lastModified: false,
  });
  // The router ignores trailing slashes, so /console and /console/ reach this one route; the page
  // loads its modules by absolute path, but /console is still sent to /console/ so that the
  // address a user bookmarks is the canonical one (the browser keeps a #fragment across it).
  app.get('/', { config: { public: true }, schema: { hide: true } }, async (request, reply) => {
    if (!request.url.split('?')[0]!.endsWith('/')) return reply.redirect(`${CONSOLE_PATH}/`, 301);
    return reply.type('text/html; charset=utf-8').send(indexHtml);
  });
  // The sign-in link `trustgate serve` prints with the local dev issuer (decision 0026): the page
  // trades the code from its #fragment for a dev admin token, once, from this machine only.
  if (signInLink !== undefined) {
    app.post('/sign-in', {
      config: { public: true },
      schema: {
        hide: true,
        body: { type: 'object', required: ['code'], additionalProperties: false, properties: { code: { type: 'string', minLength: 1, maxLength: 128 } } },
      },
    }, async (request) => {
      const refused = 'This sign-in link is used, expired or wrong, or was opened from another machine: it works once, within an hour of the start, in a browser on the machine trustgate runs on. Paste a token instead (npx trustgate console --tenant <tenant> prints a link), or restart trustgate for a new link.';
      if (!isLoopback(request.socket.remoteAddress)) {
        request.log.warn({ remoteAddress: request.socket.remoteAddress }, 'console sign-in link refused: not from this machine');
        throw new DomainError('auth.signInLinkInvalid', refused);
      }
      const token = await signInLink.redeem((request.body as { code: string }).code);
      if (token === undefined) throw new DomainError('auth.signInLinkInvalid', refused);
      request.log.info({ tenant: signInLink.tenant }, 'console sign-in link used');
      return { token, tenant: signInLink.tenant };
    });
  }
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('request.routeNotFound', request.id, `No console file ${request.url.split('?')[0]}. The console starts at ${CONSOLE_PATH}/.`)));
};
