import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AgentChange, AgentWatch } from '../../registry/index.ts';
import { apiOperation, errors } from '../route-kit.ts';
import { openEventStream, type EventStream } from './event-stream.ts';
import { toAgentResource } from './schemas.ts';

export interface AgentEventsOptions {
  readonly watch: AgentWatch;
  readonly pingMs: number;
  readonly stallMs: number;
}

// setTimeout's longest delay (about 24.8 days); a later deadline is reached in several steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

const STREAM_DESCRIPTION = [
  'Server-sent events (text/event-stream) for the console\'s live agent table. First `event: agents` with the',
  'tenant\'s agents exactly as GET /agents returns them; then `event: agent` with one agent as GET /agents/{id}',
  'returns it whenever it changes (online, lastConnectedAt, enabled, certificate, onboarded) and',
  '`event: agentDeleted` with `{"id"}`; a `: ping` comment every 15 s. Changes made on any node arrive within',
  'about a second. The stream ends with `event: streamEnd` `{"reason": "tokenExpired" | "serverClosing"}` when',
  'the token expires or the server shuts down. A client that reads slowly gets each agent\'s latest state; one that does not read for 30 s is cut off. Send the token',
  'in the Authorization header (fetch() with a streamed body; the browser\'s EventSource cannot send it).',
].join(' ');

// GET /agents/events: the console's live view (docs/decisions/0027-agent-events-by-polling.md).
export const agentEventsRoute: FastifyPluginAsyncTypebox<AgentEventsOptions> = async (app, { watch, pingMs, stallMs }) => {
  const open = new Set<EventStream>();
  // Before the server waits for its connections to end: an event stream never ends by itself.
  app.addHook('preClose', (done) => {
    for (const stream of open) stream.end('serverClosing');
    watch.close();
    done();
  });

  app.get('/agents/events', {
    // A HEAD would open a stream whose events Node discards, held until the token expires.
    exposeHeadRoute: false,
    config: { scope: 'mcmqtt.read' },
    schema: {
      ...apiOperation('agents'),
      summary: 'Live stream of the tenant\'s agents (server-sent events)',
      description: STREAM_DESCRIPTION,
      response: {
        200: { description: 'An endless text/event-stream', content: { 'text/event-stream': { schema: Type.String() } } },
        ...errors(401, 403, 429, 503),
      },
    },
  }, async (request, reply) => {
    const { tenant, expiresAtMs } = request.principal;
    let stream: EventStream | undefined;
    // Changes that arrive between joining the watch and the first event are sent after it.
    const early: AgentChange[] = [];
    const send = (change: AgentChange): void => {
      if (change.type === 'agent') stream!.send('agent', toAgentResource(change.agent), change.agent.id);
      else stream!.send('agentDeleted', { id: change.id }, change.id);
    };
    // Caps and a failing first read throw here, before the reply is hijacked: the usual error body.
    const subscription = await watch.watch(tenant, (change) => (stream ? send(change) : early.push(change)));
    reply.hijack();
    // The client may have gone while the watch was joined: its close event has passed already.
    if (reply.raw.destroyed || request.raw.socket.destroyed) {
      subscription.close();
      reply.raw.destroy();
      return;
    }
    const openedAt = performance.now();
    let deadline: NodeJS.Timeout | undefined;
    const opened: EventStream = openEventStream(reply.raw, {
      headers: reply.getHeaders(),
      pingMs,
      stallMs,
      onClose: (how) => {
        open.delete(opened);
        clearTimeout(deadline);
        subscription.close();
        request.log.info({ how, durationMs: Math.round(performance.now() - openedAt) }, 'agent event stream closed');
      },
    });
    stream = opened;
    open.add(opened);
    request.log.info({ agents: subscription.agents.length }, 'agent event stream opened');
    // SPEC: a session lives no longer than what admitted it; a stream neither.
    if (expiresAtMs !== undefined) {
      const armDeadline = (): void => {
        const remainingMs = expiresAtMs - Date.now();
        if (remainingMs <= 0) opened.end('tokenExpired');
        else deadline = setTimeout(armDeadline, Math.min(remainingMs, MAX_TIMER_MS));
      };
      armDeadline();
    }
    opened.send('agents', subscription.agents.map(toAgentResource));
    for (const change of early) send(change);
  });
};
