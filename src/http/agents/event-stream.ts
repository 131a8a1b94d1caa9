import type { ServerResponse } from 'node:http';

/** Why the server ended a stream, told to the client in a last `streamEnd` event. */
export type StreamEndReason = 'tokenExpired' | 'serverClosing';

export interface EventStreamOptions {
  /** The headers the reply had gathered (x-request-id, security headers): a hijacked reply writes its own. */
  readonly headers: Readonly<Record<string, string | number | string[] | undefined>>;
  /** A `: ping` comment this often, so proxies and the client see the stream alive. */
  readonly pingMs: number;
  /** Bytes the client may leave unread beyond the first event before it is cut off. */
  readonly maxUnsentBytes: number;
  /** Once, however the stream ended (client gone, cut off, ended by the server). */
  readonly onClose: (how: 'clientClosed' | 'slowReader' | StreamEndReason) => void;
}

export interface EventStream {
  send(event: string, data: unknown): void;
  /** Tells the client why, then ends the response. Idempotent. */
  end(reason: StreamEndReason): void;
}

/**
 * A `text/event-stream` response (WHATWG HTML, "Server-sent events") on a hijacked reply. The data
 * is JSON on one line (JSON.stringify never emits a raw line break), so one `data:` line per
 * event. A reader that does not read is cut off once it leaves `maxUnsentBytes` unread: the
 * server's memory never grows with a slow client; it reconnects and starts from a fresh list.
 */
export const openEventStream = (response: ServerResponse, { headers, pingMs, maxUnsentBytes, onClose }: EventStreamOptions): EventStream => {
  let isOpen = true;
  let allowedBytes: number | undefined;
  let endReason: StreamEndReason | undefined;
  const ping = setInterval(() => write(': ping\n\n'), pingMs);
  ping.unref();

  const finish = (how: 'clientClosed' | 'slowReader' | StreamEndReason): void => {
    if (!isOpen) return;
    isOpen = false;
    clearInterval(ping);
    onClose(how);
  };

  const write = (text: string): void => {
    if (!isOpen) return;
    response.write(text);
    // The first event (the whole list) sets the allowance: a large tenant's list is not a slow reader.
    allowedBytes ??= response.writableLength + maxUnsentBytes;
    if (response.writableLength > allowedBytes) {
      finish('slowReader');
      response.destroy();
    }
  };

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
    send(event, data) {
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end(reason) {
      if (!isOpen) return;
      endReason = reason;
      write(`event: streamEnd\ndata: ${JSON.stringify({ reason })}\n\n`);
      response.end();
      finish(reason);
    },
  };
};
