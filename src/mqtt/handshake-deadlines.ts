import type { Socket } from 'node:net';

// Every TCP connection must finish its TLS handshake within one fixed time from accept (see
// start-mqtt-broker.ts for why Node's own handshakeTimeout is not enough). The time is the same for
// all, so deadlines fall in accept order: an insertion-ordered map is the queue, its first entry the
// next to fall, and one timer serves them all — no Timeout object, clearTimeout or getpeername()
// per connection (a reconnect storm makes one per connect; issue 18 part 1).

export interface HandshakeDeadlineOptions {
  readonly timeoutMs: number;
  /** Called for a socket whose handshake outlived timeoutMs; it is forgotten first. */
  readonly onTimeout: (socket: Socket) => void;
  readonly nowMs?: () => number;
}

export class HandshakeDeadlines {
  /** Socket → its deadline; in accept order, hence in deadline order. */
  readonly #deadlines = new Map<Socket, number>();
  #timer: NodeJS.Timeout | undefined;
  readonly #timeoutMs: number;
  readonly #onTimeout: (socket: Socket) => void;
  readonly #nowMs: () => number;

  constructor({ timeoutMs, onTimeout, nowMs = Date.now }: HandshakeDeadlineOptions) {
    this.#timeoutMs = timeoutMs;
    this.#onTimeout = onTimeout;
    this.#nowMs = nowMs;
  }

  start(socket: Socket): void {
    this.#deadlines.set(socket, this.#nowMs() + this.#timeoutMs);
    this.#timer ??= this.#arm(this.#timeoutMs);
  }

  /** The handshake ended (done, failed or closed): no deadline for this socket any more. */
  end(socket: Socket): void {
    this.#deadlines.delete(socket);
  }

  get size(): number {
    return this.#deadlines.size;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#deadlines.clear();
  }

  #arm(delayMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.#fire(), Math.max(0, delayMs));
    timer.unref();
    return timer;
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.#nowMs();
    for (const [socket, atMs] of this.#deadlines) {
      if (atMs > now) {
        this.#timer = this.#arm(atMs - now);
        return;
      }
      this.#deadlines.delete(socket);
      this.#onTimeout(socket);
    }
  }
}
