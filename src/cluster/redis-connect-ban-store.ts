import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

// The broker's connect bans shared by the nodes of a cluster (structurally the mqtt module's
// ConnectBanStore, src/mqtt/connect-ban-store.ts; cluster does not import mqtt). Each ban is a
// key that expires with it (`<prefix>limits:ban:<id>`, the ban as JSON), and each change is
// announced on `<prefix>limits:bans`, so every node keeps a copy in memory: a CONNECT reads only
// that copy, never Redis. A node that starts (or whose subscription came back) reads every key.
// A lift deletes the key and is announced: it holds on every node at once, and a node that
// missed the announcement drops the ban at its next reload (resubscription) or when it expires.

interface ConnectBan {
  readonly id: string;
  readonly kind: 'clientId' | 'sourceAddress';
  readonly clientId?: string | undefined;
  readonly credential?: string | undefined;
  readonly sourceAddress?: string | undefined;
  readonly tenant?: string | undefined;
  readonly reason: string;
  readonly refusals: number;
  readonly bannedAt: number;
  readonly expiresAt: number;
}

type Announcement = { readonly op: 'add'; readonly ban: ConnectBan } | { readonly op: 'lift'; readonly id: string };

const BAN_ID = /^[0-9a-f]{24}$/;
const isShortString = (value: unknown, max = 512): value is string => typeof value === 'string' && value.length <= max;
const isOptionalShortString = (value: unknown): boolean => value === undefined || isShortString(value);

/** A ban read from Redis, checked (Redis is trusted, but a malformed value must not reach the broker). */
const banOf = (value: unknown): ConnectBan | undefined => {
  if (typeof value !== 'object' || value === null) return undefined;
  const ban = value as Record<string, unknown>;
  if (!isShortString(ban.id) || !BAN_ID.test(ban.id) || (ban.kind !== 'clientId' && ban.kind !== 'sourceAddress')) return undefined;
  if (!isOptionalShortString(ban.clientId) || !isOptionalShortString(ban.credential) || !isOptionalShortString(ban.sourceAddress) || !isOptionalShortString(ban.tenant)) return undefined;
  if (!isShortString(ban.reason, 128) || ![ban.refusals, ban.bannedAt, ban.expiresAt].every((n) => typeof n === 'number' && Number.isFinite(n))) return undefined;
  return ban as unknown as ConnectBan;
};

export class RedisConnectBanStore {
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #keyPrefix: string;
  readonly #channel: string;
  readonly #logger: Logger;
  readonly #bans = new Map<string, ConnectBan>();
  #listener: { onLifted(ban: ConnectBan): void } | undefined;

  /** `redis` and `subscriber`: connections without a key prefix (the names here are whole). */
  constructor(redis: Redis, subscriber: Redis, prefix: string, logger: Logger) {
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#keyPrefix = `${prefix}limits:ban:`;
    this.#channel = `${prefix}limits:bans`;
    this.#logger = logger;
  }

  async start(listener: { onLifted(ban: ConnectBan): void }): Promise<void> {
    this.#listener = listener;
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#hear(message);
    });
    // After a lost subscription, announcements may have been missed: read the keys again.
    this.#subscriber.on('ready', () => void this.#reload().catch((error: unknown) => this.#logger.warn({ err: error }, 'could not reload the connect bans')));
    // Not awaited: the broker starts (and its bans hold on this node) while Redis is away; the
    // copy fills once the subscription is up ('ready' above reloads the keys).
    this.#subscriber.subscribe(this.#channel).catch((error: unknown) => this.#logger.warn({ err: error }, 'could not subscribe to the connect bans channel'));
  }

  find(id: string, now: number): ConnectBan | undefined {
    const ban = this.#bans.get(id);
    if (ban === undefined) return undefined;
    if (ban.expiresAt > now) return ban;
    this.#bans.delete(id);
    return undefined;
  }

  list(now: number): readonly ConnectBan[] {
    return [...this.#bans.values()].filter((ban) => this.find(ban.id, now) !== undefined);
  }

  async add(ban: ConnectBan): Promise<void> {
    this.#bans.set(ban.id, ban);
    const ttlMs = Math.max(1, ban.expiresAt - Date.now());
    await this.#redis.set(this.#keyPrefix + ban.id, JSON.stringify(ban), 'PX', ttlMs);
    await this.#redis.publish(this.#channel, JSON.stringify({ op: 'add', ban } satisfies Announcement));
  }

  async lift(id: string): Promise<boolean> {
    const local = this.#bans.get(id);
    this.#bans.delete(id);
    const deleted = await this.#redis.del(this.#keyPrefix + id);
    await this.#redis.publish(this.#channel, JSON.stringify({ op: 'lift', id } satisfies Announcement));
    if (local) this.#listener?.onLifted(local);
    return deleted === 1 || local !== undefined;
  }

  async close(): Promise<void> {
    this.#bans.clear();
  }

  #hear(message: string): void {
    let announcement: Announcement;
    try {
      announcement = JSON.parse(message) as Announcement;
    } catch {
      return;
    }
    if (announcement?.op === 'add') {
      const ban = banOf(announcement.ban);
      if (ban) this.#bans.set(ban.id, ban);
    } else if (announcement?.op === 'lift' && isShortString(announcement.id) && BAN_ID.test(announcement.id)) {
      const ban = this.#bans.get(announcement.id);
      this.#bans.delete(announcement.id);
      if (ban) this.#listener?.onLifted(ban);
    }
  }

  async #reload(): Promise<void> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.scan(cursor, 'MATCH', `${this.#keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const values = keys.length === 0 ? [] : await this.#redis.mget(...keys);
    const loaded = new Map<string, ConnectBan>();
    for (const value of values) {
      if (value === null) continue;
      try {
        const ban = banOf(JSON.parse(value));
        if (ban) loaded.set(ban.id, ban);
      } catch {
        // A malformed value is skipped; it expires with its TTL.
      }
    }
    for (const [id, ban] of this.#bans) if (!loaded.has(id)) this.#listener?.onLifted(ban);
    this.#bans.clear();
    for (const [id, ban] of loaded) this.#bans.set(id, ban);
  }
}
