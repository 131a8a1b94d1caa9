import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSseParser } from '../../console/js/sse.js';
import { getToken, readClaims, takeTokenFromUrl } from '../../console/js/session.js';
import { ApiError, showApiError } from '../../console/js/api.js';

// The console's modules that need no browser: the event-stream parser, the sign-in link, the
// mapping of API errors to fields.

describe('the event-stream parser', () => {
  test('reads named events split across chunks, multi-line data, CRLF; skips comments (keep-alive)', () => {
    const events: { event: string; data: string }[] = [];
    const push = createSseParser((e: { event: string; data: string }) => events.push(e));
    push(': ping\n\nevent: agents\ndata: [{"id":"a"');
    assert.deepEqual(events, []);
    push('}]\n\nevent: agent\r\ndata: {"id":"a",\r\ndata: "online":true}\r\n\r');
    push('\n: ping\n\ndata: plain\n\nevent: agentDeleted\ndata:{"id":"a"}\n\n');
    assert.deepEqual(events, [
      { event: 'agents', data: '[{"id":"a"}]' },
      { event: 'agent', data: '{"id":"a",\n"online":true}' },
      { event: 'message', data: 'plain' },
      { event: 'agentDeleted', data: '{"id":"a"}' },
    ]);
  });
});

describe('the sign-in link', () => {
  const memory = () => {
    const map = new Map<string, string>();
    return { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => { map.set(k, v); }, removeItem: (k: string) => { map.delete(k); }, map };
  };
  const token = 'eyJhbGciOiJFUzI1NiJ9.eyJ0ZW4iOiJhY21lIiwic2NvcGUiOiJtY21xdHQuYWRtaW4iLCJleHAiOjE4MDAwMDAwMDB9.c2ln';

  test('#token=… goes to sessionStorage and the address is rewritten in place without it', () => {
    const storage = memory();
    const calls: unknown[][] = [];
    const taken = takeTokenFromUrl({ hash: `#token=${token}`, pathname: '/console/', search: '' }, { replaceState: (...args: unknown[]) => calls.push(args) }, storage);
    assert.equal(taken, true);
    assert.equal(getToken(storage), token);
    assert.deepEqual(calls, [[null, '', '/console/#/ca-certificates']]);
    assert.deepEqual([...storage.map.keys()], ['trustgate.token']);
  });

  test('another fragment is left alone', () => {
    const storage = memory();
    assert.equal(takeTokenFromUrl({ hash: '#/agents', pathname: '/console/', search: '' }, { replaceState: () => assert.fail('no rewrite') }, storage), false);
    assert.equal(getToken(storage), undefined);
  });

  test('the claims shown: tenant, expiry, scopes; a non-JWT is refused with why', () => {
    assert.deepEqual(readClaims(token), { tenant: 'acme', expiresAt: new Date(1_800_000_000_000), scopes: ['mcmqtt.admin'] });
    assert.throws(() => readClaims('abc'), /not a JWT/);
    assert.throws(() => readClaims('a.b.c'), /not a JWT/);
  });
});

describe('API errors next to their field', () => {
  const fieldStub = () => {
    const shown: string[] = [];
    return { shown, showError: (m: string) => shown.push(m), input: { focus: () => undefined } };
  };

  test('the first field whose test matches gets the API\'s message and code; else the form', () => {
    const name = fieldStub();
    const certificate = fieldStub();
    const form: string[] = [];
    const fields = [[name, (code: string, message: string) => code === 'request.invalid' && /name/.test(message)], [certificate, (code: string) => code.startsWith('pem.')]] as const;
    showApiError(new ApiError(400, 'pem.notPem', 'The caCertificate is not PEM.'), fields, (m: string) => form.push(m));
    showApiError(new ApiError(400, 'request.invalid', 'body/name must NOT have fewer than 1 characters'), fields, (m: string) => form.push(m));
    showApiError(new ApiError(409, 'caCertificate.limitReached', 'Your tenant already holds 2 CA certificates.'), fields, (m: string) => form.push(m));
    assert.deepEqual(certificate.shown, ['The caCertificate is not PEM. (pem.notPem)']);
    assert.deepEqual(name.shown, ['body/name must NOT have fewer than 1 characters (request.invalid)']);
    assert.deepEqual(form, ['Your tenant already holds 2 CA certificates. (caCertificate.limitReached)']);
  });
});

describe('the live agent state', () => {
  const waitFor = async (condition: () => boolean, what: string) => {
    const deadline = Date.now() + 5_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  test('a server without the stream (404) is polled every 2 s; aborting stops it', async () => {
    const { watchAgents, POLL_INTERVAL_MS } = await import('../../console/js/live-agents.js');
    assert.equal(POLL_INTERVAL_MS, 2_000);
    const controller = new AbortController();
    const lists: unknown[] = [];
    const modes: string[] = [];
    let gets = 0;
    const api = {
      raw: async () => new Response('{"errors":[]}', { status: 404 }),
      get: async (path: string) => { gets++; assert.equal(path, '/agents'); return [{ id: 'a', online: gets > 1 }]; },
    };
    watchAgents({ api, signal: controller.signal, onList: (l: unknown) => lists.push(l), onAgent: () => assert.fail(), onDeleted: () => assert.fail(), onMode: (m: string) => modes.push(m) });
    await waitFor(() => lists.length >= 1, 'the first list');
    assert.deepEqual(lists[0], [{ id: 'a', online: false }]);
    assert.equal(modes[0], 'polling');
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = gets;
    assert.equal(after, 1, 'one poll before the abort, the next one 2 s away');
  });

  test('a stream is read as it arrives: the list, each change, each deletion; no polling', async () => {
    const { watchAgents } = await import('../../console/js/live-agents.js');
    const controller = new AbortController();
    const seen: string[] = [];
    let sendMore!: (text: string) => void;
    const body = new ReadableStream<Uint8Array>({
      start(stream) {
        const encoder = new TextEncoder();
        sendMore = (text) => stream.enqueue(encoder.encode(text));
        sendMore('event: agents\ndata: [{"id":"a"},{"id":"b"}]\n\n');
      },
    });
    const api = {
      raw: async () => new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
      get: async () => assert.fail('no polling while the stream is open'),
    };
    watchAgents({
      api, signal: controller.signal,
      onList: (l: { id: string }[]) => seen.push(`list ${l.map((a) => a.id).join(',')}`),
      onAgent: (a: { id: string; online: boolean }) => seen.push(`agent ${a.id} ${a.online}`),
      onDeleted: (id: string) => seen.push(`deleted ${id}`),
      onMode: (m: string) => seen.push(`mode ${m}`),
    });
    await waitFor(() => seen.includes('list a,b'), 'the list');
    sendMore(': ping\n\nevent: agent\ndata: {"id":"a","online":true}\n\nevent: agentDeleted\ndata: {"id":"b"}\n\n');
    await waitFor(() => seen.includes('deleted b'), 'the deletion');
    assert.deepEqual(seen, ['mode stream', 'list a,b', 'agent a true', 'deleted b']);
    controller.abort();
  });
});
