import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

// A TCP proxy in front of any server (PostgreSQL, Redis) that a test can cut and restore: cut drops
// every proxied connection and stops accepting (whoever connects through it sees the server go
// away: connection reset, then connection refused), restore listens again on the same port. A
// process pointed at `urlThrough(...)` sees a real outage of its dependency, while every other
// process sharing that dependency keeps it.
//
// blackhole() models the other kind of outage: a network that silently drops packets (a partition,
// a firewall losing its state). Nothing is closed or reset: every connection stays open for both
// ends, but no byte crosses in either direction, on the existing connections and (by default) on
// new ones, which are accepted and then hear nothing. restoreFlow() heals the network: what each
// end sent meanwhile is delivered late, as TCP's retransmissions would, and bytes flow again.

export class TcpOutageProxy {
  readonly #target: { readonly host: string; readonly port: number };
  readonly #sockets = new Set<Socket>();
  // Proxied connections as [inbound, outbound] pairs, for blackhole() and restoreFlow().
  readonly #pairs = new Set<readonly [Socket, Socket]>();
  #blackhole: { readonly newConnections: boolean } | undefined;
  #server: Server | undefined;
  #port = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  /** A proxy to the host and port of `url` (its default port given, since URLs omit it). */
  static forUrl(url: string, defaultPort: number): TcpOutageProxy {
    const parsed = new URL(url);
    return new TcpOutageProxy({ host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || defaultPort) });
  }

  /** The port clients connect to (0 before the first start). */
  get port(): number {
    return this.#port;
  }

  get isCut(): boolean {
    return this.#server === undefined;
  }

  get isBlackholed(): boolean {
    return this.#blackhole !== undefined;
  }

  /** `url` with its host and port replaced by the proxy's (user, password, path and query kept). */
  urlThrough(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.#port);
    return parsed.toString();
  }

  /** Starts accepting; the first start picks a free port, later ones reuse it. */
  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((inbound) => {
      const outbound = connect(this.#target.port, this.#target.host);
      const pair = [inbound, outbound] as const;
      this.#pairs.add(pair);
      for (const socket of pair) {
        this.#sockets.add(socket);
        socket.setNoDelay(true);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.#sockets.delete(socket);
          this.#pairs.delete(pair);
          inbound.destroy();
          outbound.destroy();
        });
      }
      if (this.#blackhole?.newConnections) {
        inbound.pause();
        outbound.pause();
      } else {
        TcpOutageProxy.#flow(pair);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Drops every proxied connection and stops accepting new ones. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Stops every byte in both directions without closing anything: on the connections open now,
   * and on new ones unless `newConnections` is false (then those flow normally). Nothing reads
   * from the held sockets, so the kernel buffers what either end sends, and an end that closes its
   * socket is not noticed by the other until restoreFlow().
   */
  blackhole({ newConnections = true }: { newConnections?: boolean } = {}): void {
    this.#blackhole = { newConnections };
    for (const [inbound, outbound] of this.#pairs) {
      inbound.unpipe(outbound);
      outbound.unpipe(inbound);
      inbound.pause();
      outbound.pause();
    }
  }

  /** Ends blackhole(): every held connection forwards again, what was held first. */
  restoreFlow(): void {
    if (!this.#blackhole) return;
    this.#blackhole = undefined;
    for (const pair of this.#pairs) TcpOutageProxy.#flow(pair);
  }

  static #flow([inbound, outbound]: readonly [Socket, Socket]): void {
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  }

  /** Accepts connections again, on the same port. */
  restore(): Promise<void> {
    return this.start();
  }

  close(): Promise<void> {
    this.#blackhole = undefined;
    return this.cut();
  }
}
