import { createHash } from 'node:crypto';
import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import { DomainError, isTenantId } from '../shared/index.ts';
import { describeWindow, type RateWindow } from './rate-limit-budgets.ts';

// Before the token (decision 0024): tenant budgets need a tenant, so calls without a valid token
// are limited by source address instead — by their *failures*. An address whose calls failed
// authentication (401) more than `window.max` times in the window is "noisy" until the window
// ends; while it is, a call from it is answered 429 before its token is checked (no signature
// verification, no body) unless its Authorization header passed on this node before (a tenant
// behind the same NAT keeps working), and one call a second gets through to verification anyway,
// so a tenant's fresh token is let in within about a second. That one call a second is per tenant
// the token *claims* (its unverified `ten`): a single shared trial would go to whoever sends
// first, i.e. to the junk, and a tenant's new token from the same address (a proxy, a NAT) would
// not get in for as long as the junk kept coming. Junk that names no tenant shares one trial; one
// that forges a tenant's name competes only with that tenant. At most MAX_CLAIMS_PER_ADDRESS
// tenants per address get a trial of their own (the rest share one), so verifications stay bounded. Counted per node, in memory: it
// protects this node's CPU and logs, it is no business limit, and needs no Redis round trip.

export const UNAUTHENTICATED_DEFAULT: RateWindow = { max: 100, windowMs: 60_000 };
/** Calls a noisy address may still have verified: one per this many ms. */
const TRIAL_INTERVAL_MS = 1_000;
/** Addresses and good Authorization headers remembered at most (oldest forgotten first). */
const MAX_ENTRIES = 50_000;
/** A good header is remembered at most this long (and never past its token's exp). */
const KNOWN_GOOD_MS = 10 * 60_000;
/** Claimed tenants with a trial of their own per noisy address. */
const MAX_CLAIMS_PER_ADDRESS = 32;
const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]+)$/i;

interface AddressCount {
  windowStartMs: number;
  failures: number;
  /** The last trial per claimed tenant ('' for none). */
  readonly lastTrialMs: Map<string, number>;
}

/** The `ten` claim of a Bearer JWT, unverified ('' when there is none): only to share the trials out. */
const claimedTenantOf = (header: string | undefined): string => {
  const payload = header === undefined ? undefined : BEARER.exec(header)?.[1]?.split('.')[1];
  if (payload === undefined || payload.length > 4096) return '';
  try {
    const ten: unknown = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { ten?: unknown } | null)?.ten;
    return isTenantId(ten) ? ten : '';
  } catch {
    return '';
  }
};

const remember = <K, V>(map: Map<K, V>, key: K, value: V): void => {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value!);
};

export const limitUnauthenticated = (app: FastifyInstance, { window, metrics, now = () => Date.now() }: {
  readonly window: RateWindow; readonly metrics: MetricsRegistry; readonly now?: () => number;
}): void => {
  const refused = new Counter({
    name: 'trustgate_http_unauthenticated_limited_total',
    help: 'REST calls refused with 429 before their token was checked: their address failed authentication too often (docs/limits.md)',
    registers: [metrics],
  });
  const addresses = new Map<string, AddressCount>();
  const knownGood = new Map<string, number>();
  const digest = (header: string): string => createHash('sha256').update(header).digest('base64url');
  const addressOf = (request: FastifyRequest): string => normalizeIP(request.ip);
  const countOf = (address: string, atMs: number): AddressCount | undefined => {
    const count = addresses.get(address);
    if (count && atMs - count.windowStartMs >= window.windowMs) {
      addresses.delete(address);
      return undefined;
    }
    return count;
  };

  // Registered before authenticate's hook: runs first.
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404 || request.routeOptions.config.public === true) return;
    const atMs = now();
    const count = countOf(addressOf(request), atMs);
    if (!count || count.failures < window.max) return;
    const header = request.headers.authorization;
    const goodUntil = header ? knownGood.get(digest(header)) : undefined;
    if (goodUntil !== undefined && atMs < goodUntil) return;
    let claim = claimedTenantOf(header);
    if (!count.lastTrialMs.has(claim) && count.lastTrialMs.size >= MAX_CLAIMS_PER_ADDRESS) claim = '';
    if (atMs - (count.lastTrialMs.get(claim) ?? 0) >= TRIAL_INTERVAL_MS) {
      count.lastTrialMs.set(claim, atMs);
      return;
    }
    refused.inc();
    const retryAfterSeconds = Math.max(1, Math.ceil((count.windowStartMs + window.windowMs - atMs) / 1000));
    reply.header('retry-after', retryAfterSeconds);
    throw new DomainError('rateLimit.exceeded', `Too many calls with a missing or invalid token from your address: retry after ${retryAfterSeconds} s (limit: ${describeWindow(window)} failed authentications per address). Calls with a token that works are still served.`);
  });

  // After authenticate's hook: the header just passed.
  app.addHook('preParsing', async (request) => {
    const header = request.headers.authorization;
    if (!request.principal || !header) return;
    const atMs = now();
    remember(knownGood, digest(header), Math.min(atMs + KNOWN_GOOD_MS, request.principal.expiresAtMs ?? Number.POSITIVE_INFINITY));
  });

  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode !== 401 || request.is404) return;
    const address = addressOf(request);
    const atMs = now();
    const count = countOf(address, atMs) ?? { windowStartMs: atMs, failures: 0, lastTrialMs: new Map<string, number>() };
    count.failures += 1;
    if (count.failures === window.max) request.log.warn({ address, limit: `${describeWindow(window)} failed authentications` }, 'rate limited: address failed authentication too often; its calls with unknown tokens are refused before verification until the window ends');
    remember(addresses, address, count);
  });
};
