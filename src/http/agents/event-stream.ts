import type { ServerResponse } from 'node:http';

/** Why the server ended a stream, told to the client in a last `streamEnd` event. */
export type StreamEndReason = 'tokenExpired' | 'serverClosing';

export interface EventStreamOptions {
  /** The headers the reply had gathered (x-request-id, security headers): a hijacked reply writes its own. */
  readonly headers: Readonly<Record<string, string | number | string[] | undefined>>;
  /** A `: ping` comment this often, so proxies and the client see the stream alive. */
  readonly pingMs: number;
  /** How long the client may leave the socket full (not reading at all) before it is cut off. */
  readonly stallMs: number;
  /** Once, however the stream ended (client gone, cut off, ended by the server). */
  readonly onClose: (how: 'clientClosed' | 'slowReader' | StreamEndReason) => void;
}

export interface EventStream {
  /** With a `key`, an event not yet written when the next one of the same key comes is replaced by
   *  it (the client only needs an object's latest state). */
  send(event: string, data: unknown, key?: string): void;
  /** Tells the client why, then ends the response. Idempotent. */
  end(reason: StreamEndReason): void;
  /** Events held back while the client is not reading (for tests). */
  readonly pendingCount: number;
}

/**
 * A `text/event-stream` response (WHATWG HTML, "Server-sent events") on a hijacked reply. The data
 * is JSON on one line (JSON.stringify never emits a raw line break), so one `data:` line per
 * event. Memory stays bounded for a client that reads slowly: once the socket is full, events are
 * held back one per key (per agent: at most the tenant's agent count, each the latest state) and
 * written when it drains; pings are skipped meanwhile. A client that does not read at all for
 * `stallMs` is cut off; it reconnects and starts from a fresh list.
 */
export const openEventStream = (response: ServerResponse, { headers, pingMs, stallMs, onClose }: EventStreamOptions): EventStream => {
  let isOpen = true;
  let endReason: StreamEndReason | undefined;
  let stall: NodeJS.Timeout | undefined;
  const pending = new Map<string, string>();
  let unkeyed = 0;

  const finish = (how: 'clientClosed' | 'slowReader' | StreamEndReason): void => {
    if (!isOpen) return;
    isOpen = false;
    clearInterval(ping);
    clearTimeout(stall);
    pending.clear();
    onClose(how);
  };

  // Writes now; false once the socket's buffer is full, and the stall clock starts.
  const write = (text: string): boolean => {
    if (response.write(text)) return true;
    stall ??= setTimeout(() => {
      finish('slowReader');
      response.destroy();
    }, stallMs);
    return false;
  };

  const flush = (): void => {
    clearTimeout(stall);
    stall = undefined;
    for (const [key, text] of pending) {
      pending.delete(key);
      if (!isOpen || !write(text)) return;
    }
  };

  const ping = setInterval(() => {
    if (isOpen && !response.writableNeedDrain) write(': ping\n\n');
  }, pingMs);
  ping.unref();

  response.on('drain', flush);
  response.on('close', () => finish(endReason ?? 'clientClosed'));
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) response.setHeader(name, value);
  response.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    // nginx buffers responses unless told not to; a buffered event stream shows nothing live.
    'x-accel-buffering': 'no',
  });
  // Headers now, not with the first event: the client knows at once that the stream is open.
  response.flushHeaders();

  return {
    get pendingCount() {
      return pending.size;
    },
    send(event, data, key) {
      if (!isOpen) return;
      const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      if (response.writableNeedDrain || pending.size > 0) {
        // Keyless events are never coalesced; the only ones are the first list and the end.
        if (key === undefined) key = `\0${unkeyed++}`;
        pending.delete(key);
        pending.set(key, text);
        return;
      }
      write(text);
    },
    end(reason) {
      if (!isOpen) return;
      endReason = reason;
      // What the client has not read yet is of no use once the stream ends.
      pending.clear();
      response.end(`event: streamEnd\ndata: ${JSON.stringify({ reason })}\n\n`);
      finish(reason);
    },
  };
};
