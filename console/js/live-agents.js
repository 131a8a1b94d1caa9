// The agents' live state: the server's event stream when it has one (GET /agents/events,
// text/event-stream, read with fetch so the Bearer token goes along), else GET /agents every 2 s.
import { createSseParser } from './sse.js';

export const POLL_INTERVAL_MS = 2_000;

/**
 * Calls onList(agents) with the whole list, onAgent(agent) on a change, onDeleted(id), and
 * onMode('stream'|'polling'|'error', detail). Stops when `signal` aborts.
 */
export const watchAgents = ({ api, signal, onList, onAgent, onDeleted, onMode }) => {
  const sleep = (ms) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });

  const poll = async () => {
    onMode('polling');
    while (!signal.aborted) {
      try {
        onList(await api.get('/agents', { signal }));
        onMode('polling');
      } catch (error) {
        if (signal.aborted) return;
        onMode('error', error.message);
      }
      await sleep(POLL_INTERVAL_MS);
    }
  };

  const stream = async () => {
    let response;
    try {
      response = await api.raw('GET', '/agents/events', { signal });
    } catch (error) {
      if (signal.aborted) return 'stop';
      return 'poll';
    }
    if (response.status === 404 || response.status === 405) return 'poll';
    if (!response.ok || !response.body || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      response.body?.cancel().catch(() => undefined);
      return 'poll';
    }
    onMode('stream');
    const push = createSseParser(({ event, data }) => {
      try {
        const value = JSON.parse(data);
        if (event === 'agents') onList(value);
        else if (event === 'agent') onAgent(value);
        else if (event === 'agentDeleted') onDeleted(value.id);
      } catch {
        // a malformed event is skipped; the next full list corrects the table
      }
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        push(value);
      }
    } catch {
      // the connection dropped: reconnect below
    }
    return signal.aborted ? 'stop' : 'reconnect';
  };

  (async () => {
    for (;;) {
      const next = await stream();
      if (next === 'stop' || signal.aborted) return;
      if (next === 'poll') return poll();
      onMode('error', 'The live connection dropped; reconnecting…');
      await sleep(POLL_INTERVAL_MS);
    }
  })();
};
