import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

// A TCP proxy in front of any server (PostgreSQL, Redis) that a test can cut and restore: cut drops
// every proxied connection and stops accepting (whoever connects through it sees the server go
// away: connection reset, then connection refused), restore listens again on the same port. A
// process pointed at `urlThrough(...)` sees a real outage of its dependency, while every other
// process sharing that dependency keeps it.

export class TcpOutageProxy {
  readonly #target: { readonly host: string; readonly port: number };
  readonly #sockets = new Set<Socket>();
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
      for (const socket of [inbound, outbound]) {
        this.#sockets.add(socket);
        socket.setNoDelay(true);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.#sockets.delete(socket);
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound);
      outbound.pipe(inbound);
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

  /** Accepts connections again, on the same port. */
  restore(): Promise<void> {
    return this.start();
  }

  close(): Promise<void> {
    return this.cut();
  }
}
