// A reader of GET /agents/events for tests: fetch with the Bearer token (what the console does:
// EventSource cannot send one), the body parsed into events as they arrive.

export interface StreamEvent {
  /** `event:` name; 'comment' for a `: ping` line. */
  readonly event: string;
  readonly data: any;
  /** performance.now() when it was parsed. */
  readonly at: number;
}

export interface EventStreamClient {
  readonly status: number;
  readonly headers: Headers;
  /** For a refused stream: the error body. */
  readonly body: any;
  readonly events: readonly StreamEvent[];
  /** Resolves when the response body ended (the server closed the stream). */
  readonly ended: Promise<void>;
  /** The first event (from index `from` on) matching, within `ms`; rejects naming `what` otherwise. */
  next(match: (event: StreamEvent) => boolean, ms: number, what: string, from?: number): Promise<StreamEvent>;
  close(): void;
}

export const openEventStream = async (url: string, token: string | undefined): Promise<EventStreamClient> => {
  const abort = new AbortController();
  const response = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: abort.signal });
  const events: StreamEvent[] = [];
  const waiters = new Set<() => void>();
  const notify = () => { for (const waiter of waiters) waiter(); };
  let isEnded = false;
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
    const text = await response.text();
    return {
      status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text), events, ended: Promise.resolve(),
      next: () => Promise.reject(new Error(`no stream: ${response.status} ${text}`)), close: () => undefined,
    };
  }
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) {
            events.push({ event: 'comment', data: block.slice(1).trim(), at: performance.now() });
            continue;
          }
          const name = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
          const data = /^data: (.*)$/m.exec(block)?.[1];
          events.push({ event: name, data: data === undefined ? undefined : JSON.parse(data), at: performance.now() });
        }
        notify();
      }
    } catch {
      // aborted by close(), or the connection was cut
    } finally {
      isEnded = true;
      notify();
    }
  })();
  return {
    status: response.status,
    headers: response.headers,
    body: undefined,
    events,
    ended,
    next(match, ms, what, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.slice(from).find(match);
          if (found) return done(() => resolve(found));
          if (isEnded) return done(() => reject(new Error(`stream ended before ${what}; events: ${JSON.stringify(events.map((e) => e.event))}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; events: ${JSON.stringify(events.map((e) => e.event))}`))), ms);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    close() {
      abort.abort();
    },
  };
};
