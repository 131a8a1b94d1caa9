import { createHash } from 'node:crypto';
import type { ConnectBan, ConnectBanStore } from './connect-ban-store.ts';

// Connect limits and bans (SPEC "Audit trail and limits"; docs/limits.md, decision 0025): token
// buckets per client id and per source address, and bans for what is refused too often. All of
// it is this node's memory — a CONNECT makes no round trip for it — except the bans, which the
// ban store shares between nodes.
//
// A client id is never limited or banned on its own: the subject is the client id *together
// with the credential it came with* (the SHA-256 of the certificate the TLS handshake proved the
// client holds the key of, or of the token). Spoofing an agent's client id without its key
// (another certificate, none, a token) spends and bans only the spoofer's own subject: the real
// agent keeps connecting. What is left to a spoofer — new certificates for every attempt — is what
// the per-address limit is for.

/** A token bucket: `burst` at once, refilled at `perSecond`. */
export interface ConnectRate {
  readonly perSecond: number;
  readonly burst: number;
}

/** TRUSTGATE_RATE_LIMITS' `mqtt` part (config's RateLimitPolicy['mqtt'], structurally). */
export interface ConnectLimitPolicy {
  readonly connectPerClientId: ConnectRate;
  readonly connectPerSourceAddress: ConnectRate;
  readonly ban: { readonly refusals: number; readonly windowMs: number; readonly banMs: number };
}

export interface ConnectSubject {
  readonly clientId: string;
  /** `certificate:<sha-256 hex>`, `token:<sha-256 hex, shortened>` or `none`. */
  readonly credential: string;
  readonly sourceAddress: string;
}

export type LimitKind = 'clientId' | 'sourceAddress' | 'bannedClientId' | 'bannedSourceAddress';
export const limitKinds: readonly LimitKind[] = ['clientId', 'sourceAddress', 'bannedClientId', 'bannedSourceAddress'];

export type LimitVerdict =
  | { readonly isAllowed: true }
  | { readonly isAllowed: false; readonly kind: LimitKind; readonly code: 'mqtt.connectRateLimited' | 'mqtt.clientBanned'; readonly ban?: ConnectBan };

const ALLOWED: LimitVerdict = Object.freeze({ isAllowed: true });

interface Counted {
  tokens: number;
  /** When `tokens` was last refilled (epoch ms). */
  at: number;
  windowStart: number;
  refusals: number;
  reason: string;
  /** The ban id of this subject (computed once). */
  readonly banId: string;
  /** The tenant an admission or a certificate refusal proved for this subject (client ids only). */
  tenant?: string | undefined;
}

/** Refusals that say nothing about the client: a server-side outage or a tenant's full quota never
 *  earns a ban (a client retrying into a full quota is still slowed by its rate, whose refusals count). */
const NOT_THE_CLIENTS_FAULT = new Set([
  'mqtt.clusterUnavailable', 'storage.unavailable', 'internal', 'mqtt.clientBanned', 'mqtt.tenantConnectionLimitReached', 'mqtt.persistentSessionLimitReached',
]);

export const banIdOf = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 24);
const clientKeyOf = (subject: ConnectSubject): string => `clientId\0${subject.clientId}\0${subject.credential}`;
const addressKeyOf = (address: string): string => `sourceAddress\0${address}`;

/**
 * The block an address is limited as: an IPv4 address (also written IPv4-mapped, `::ffff:a.b.c.d`)
 * as itself, an IPv6 address as its /64 (`2001:db8:0:1::/64`). One IPv6 subscriber holds a whole
 * /64 (usually more): limited per address, it would get 2^64 buckets, and the address limit and its
 * ban would stop nothing. The REST limits do the same (@fastify/rate-limit's normalizeIP).
 */
export const addressBlockOf = (address: string): string => {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const groupsOf = (part: string | undefined): string[] => (part === undefined || part === '' ? [] : part.split(':'))
    // A trailing dotted IPv4 part (`64:ff9b::192.0.2.1`) stands for two groups.
    .flatMap((group) => (group.includes('.') ? ['0', '0'] : [group]));
  const headGroups = groupsOf(head);
  const tailGroups = groupsOf(tail);
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((group) => (Number.parseInt(group, 16) || 0).toString(16)).join(':')}::/64`;
};

export interface ConnectLimiterOptions {
  readonly policy: ConnectLimitPolicy;
  readonly bans: ConnectBanStore;
  readonly now?: () => number;
  /** A ban was just made by this node (metrics, log, audit). */
  readonly onBanned: (ban: ConnectBan) => void;
  /** The ban store refused a write: the ban still holds on this node. */
  readonly onStoreError: (error: unknown) => void;
}

export class ConnectLimiter {
  readonly #policy: ConnectLimitPolicy;
  readonly #bans: ConnectBanStore;
  readonly #now: () => number;
  readonly #options: ConnectLimiterOptions;
  readonly #clients = new Map<string, Counted>();
  readonly #addresses = new Map<string, Counted>();
  /** Bans this node made and holds here even when the store is unreachable. */
  readonly #localBans = new Map<string, ConnectBan>();

  /** Refusals of an address in one window that earn it a ban (checkAddress says why so many). */
  readonly #addressBanRefusals: number;

  constructor(options: ConnectLimiterOptions) {
    this.#options = options;
    this.#policy = options.policy;
    const { connectPerSourceAddress: rate, ban } = options.policy;
    this.#addressBanRefusals = Math.max(ban.refusals, Math.floor(rate.burst + rate.perSecond * (ban.windowMs / 1000)));
    this.#bans = options.bans;
    this.#now = options.now ?? Date.now;
  }

  /** On the TCP connection, before the TLS handshake: a banned or too busy address is dropped. */
  checkAddress(socketAddress: string): LimitVerdict {
    const now = this.#now();
    const address = addressBlockOf(socketAddress);
    const counted = this.#counted(this.#addresses, addressKeyOf(address), this.#policy.connectPerSourceAddress, now);
    if (this.#banned(counted.banId, now)) return { isAllowed: false, kind: 'bannedSourceAddress', code: 'mqtt.clientBanned' };
    if (this.#take(counted, this.#policy.connectPerSourceAddress, now)) return ALLOWED;
    // Only an address's own rate counts towards its ban, never trust refusals of clients behind it:
    // one looping agent must not get a whole NAT banned for what its certificate did. And only a
    // rate well past what it is allowed: a site behind one address whose agents all come back at
    // once (after a power cut) is over its burst for a while, and its refused agents retry; banned
    // for that, the site would be locked out for banMs again and again instead of getting in at
    // the address's rate. So an address is banned only once its refusals in the window exceed its
    // whole allowance for that window (burst + rate × window): it sends more than twice its rate.
    this.#countRefusal(counted, 'mqtt.connectRateLimited', now, this.#addressBanRefusals, (refusals) => ({
      id: counted.banId, kind: 'sourceAddress', sourceAddress: address, reason: counted.reason, refusals, bannedAt: now, expiresAt: now + this.#policy.ban.banMs,
    }));
    return { isAllowed: false, kind: 'sourceAddress', code: 'mqtt.connectRateLimited' };
  }

  /** At CONNECT, before the certificate or token is looked at. */
  checkClient(subject: ConnectSubject): LimitVerdict {
    const now = this.#now();
    const counted = this.#counted(this.#clients, clientKeyOf(subject), this.#policy.connectPerClientId, now);
    const ban = this.#banned(counted.banId, now);
    if (ban) return { isAllowed: false, kind: 'bannedClientId', code: 'mqtt.clientBanned', ban };
    if (this.#take(counted, this.#policy.connectPerClientId, now)) return ALLOWED;
    this.refused(subject, 'mqtt.connectRateLimited');
    return { isAllowed: false, kind: 'clientId', code: 'mqtt.connectRateLimited' };
  }

  /** The tenant this subject proved earlier, if any. */
  tenantOf(subject: ConnectSubject): string | undefined {
    return this.#clients.get(clientKeyOf(subject))?.tenant;
  }

  /** A refusal of this subject (a rate limit, or trust: an unknown CA, a revoked certificate…).
   *  `provenTenant`: the tenant whose CA issued the certificate it presented. */
  refused(subject: ConnectSubject, reason: string, provenTenant?: string): void {
    if (NOT_THE_CLIENTS_FAULT.has(reason)) return;
    const now = this.#now();
    const counted = this.#counted(this.#clients, clientKeyOf(subject), this.#policy.connectPerClientId, now);
    this.#prove(counted, subject, provenTenant);
    this.#countRefusal(counted, reason, now, this.#policy.ban.refusals, (refusals) => ({
      id: counted.banId, kind: 'clientId', clientId: subject.clientId, credential: subject.credential, tenant: counted.tenant,
      reason: counted.reason, refusals, bannedAt: now, expiresAt: now + this.#policy.ban.banMs,
    }));
  }

  accepted(subject: ConnectSubject, tenant: string): void {
    const counted = this.#clients.get(clientKeyOf(subject));
    if (counted) this.#prove(counted, subject, tenant);
  }

  /** Forgets what no longer limits anything (full buckets, past windows): bounded memory. Returns
   *  the bans this node made that have expired since the last sweep. */
  sweep(): ConnectBan[] {
    const expired: ConnectBan[] = [];
    const now = this.#now();
    const { windowMs } = this.#policy.ban;
    for (const [map, rate] of [[this.#clients, this.#policy.connectPerClientId], [this.#addresses, this.#policy.connectPerSourceAddress]] as const) {
      for (const [key, counted] of map) {
        const refilled = counted.tokens + ((now - counted.at) / 1000) * rate.perSecond >= rate.burst;
        if (refilled && now - counted.windowStart >= windowMs) map.delete(key);
      }
    }
    for (const [id, ban] of this.#localBans) {
      if (ban.expiresAt > now) continue;
      this.#localBans.delete(id);
      expired.push(ban);
    }
    return expired;
  }

  /** A ban was lifted (here or on another node): its subject starts afresh, with a full bucket. */
  forgetBan(id: string): void {
    this.#localBans.delete(id);
    for (const map of [this.#clients, this.#addresses]) {
      for (const [key, counted] of map) if (counted.banId === id) map.delete(key);
    }
  }

  get trackedSubjects(): number {
    return this.#clients.size + this.#addresses.size;
  }

  #banned(id: string, now: number): ConnectBan | undefined {
    const local = this.#localBans.get(id);
    if (local && local.expiresAt > now) return local;
    return this.#bans.find(id, now);
  }

  #counted(map: Map<string, Counted>, key: string, rate: ConnectRate, now: number): Counted {
    let counted = map.get(key);
    if (!counted) map.set(key, counted = { tokens: rate.burst, at: now, windowStart: now, refusals: 0, reason: '', banId: banIdOf(key) });
    return counted;
  }

  #take(counted: Counted, rate: ConnectRate, now: number): boolean {
    counted.tokens = Math.min(rate.burst, counted.tokens + (Math.max(0, now - counted.at) / 1000) * rate.perSecond);
    counted.at = Math.max(now, counted.at);
    if (counted.tokens < 1) return false;
    counted.tokens -= 1;
    return true;
  }

  // Only a tenant whose `<tenant>_` the client id carries: a certificate of tenant A under B's client id proves nothing about B.
  #prove(counted: Counted, subject: ConnectSubject, tenant: string | undefined): void {
    if (tenant !== undefined && subject.clientId.startsWith(`${tenant}_`)) counted.tenant = tenant;
  }

  #countRefusal(counted: Counted, reason: string, now: number, refusals: number, banOf: (refusals: number) => ConnectBan): void {
    const { windowMs } = this.#policy.ban;
    if (now - counted.windowStart >= windowMs) {
      counted.windowStart = now;
      counted.refusals = 0;
    }
    counted.refusals += 1;
    // The ban names why the client was refused: a trust reason (a revoked certificate) over the
    // rate limits its retries then ran into.
    if (reason !== 'mqtt.connectRateLimited' || counted.reason === '') counted.reason = reason;
    if (counted.refusals < refusals) return;
    const ban = banOf(counted.refusals);
    counted.refusals = 0;
    counted.reason = '';
    counted.windowStart = now;
    // A ban that ends (or is lifted) lets the subject start afresh: its bucket is full from the end on.
    counted.tokens = Number.MAX_SAFE_INTEGER;
    counted.at = ban.expiresAt;
    this.#localBans.set(ban.id, ban);
    this.#bans.add(ban).catch(this.#options.onStoreError);
    this.#options.onBanned(ban);
  }
}
