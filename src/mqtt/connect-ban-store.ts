// Where the broker's connect bans live (connect-limits.ts). Every check reads the node's own
// copy (`find`: a Map lookup, no round trip on any CONNECT); a ban or lift is written through to
// what the nodes share. A single node keeps them in this process; a cluster keeps them in Redis
// with a key per ban (expiring with it) and announces each change on a channel, so every node's
// copy follows (src/cluster/redis-connect-ban-store.ts, structurally this port: cluster does not
// import mqtt).

export interface ConnectBan {
  /** 24 lowercase hex: SHA-256 of the banned subject's key (connect-limits.ts). */
  readonly id: string;
  readonly kind: 'clientId' | 'sourceAddress';
  readonly clientId?: string | undefined;
  /** `certificate:<sha-256 hex>`, `token` or `none`. */
  readonly credential?: string | undefined;
  readonly sourceAddress?: string | undefined;
  /** The tenant the refusals proved (clientId bans only; docs/limits.md). */
  readonly tenant?: string | undefined;
  readonly reason: string;
  readonly refusals: number;
  /** Epoch ms. */
  readonly bannedAt: number;
  readonly expiresAt: number;
}

export interface ConnectBanStore {
  /** Loads what the nodes share and follows its changes; `onLifted` hears lifts made by other nodes too. */
  start(listener: { onLifted(ban: ConnectBan): void }): Promise<void>;
  /** This node's copy: the ban with this id, if it has not expired at `now`. */
  find(id: string, now: number): ConnectBan | undefined;
  /** Every ban not expired at `now`. */
  list(now: number): readonly ConnectBan[];
  add(ban: ConnectBan): Promise<void>;
  /** True when there was such a ban (on any node). */
  lift(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** A single node's bans: this process is the only one that reads them. */
export class InMemoryConnectBanStore implements ConnectBanStore {
  readonly #bans = new Map<string, ConnectBan>();
  #listener: { onLifted(ban: ConnectBan): void } | undefined;

  async start(listener: { onLifted(ban: ConnectBan): void }): Promise<void> {
    this.#listener = listener;
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
  }

  async lift(id: string): Promise<boolean> {
    const ban = this.#bans.get(id);
    if (!ban) return false;
    this.#bans.delete(id);
    this.#listener?.onLifted(ban);
    return true;
  }

  async close(): Promise<void> {
    this.#bans.clear();
  }
}
