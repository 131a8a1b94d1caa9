import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { Aedes, Client } from 'aedes';
import { disconnectCauseOf, successorOf, trackDisconnectReasons, type Successor } from './disconnect-reasons.ts';

// The takeover announcement carries the agent session that took the client id over, so the node
// whose connection it closes hands the agent's online state to that session (kysely-agent-store.ts).

type Listener = (packet: { topic: string; payload: unknown }, done: () => void) => void;

const fakeMq = () => {
  const listeners: Listener[] = [];
  const emitted: object[] = [];
  return {
    emitted,
    on(_topic: string, listener: Listener) { listeners.push(listener); },
    emit(packet: { readonly topic: string }, callback?: (error?: Error) => void) { emitted.push(packet); callback?.(); },
    /** What Redis would deliver to this node's listeners. */
    deliver(packet: { topic: string; payload: unknown }) { for (const listener of listeners) listener(packet, () => undefined); },
  };
};

const fakeBroker = (id: string) => {
  const broker = Object.assign(new EventEmitter(), {
    id,
    clients: {} as Record<string, Client | undefined>,
    registerClient(client: Client) { broker.clients[client.id] = client; },
  });
  return broker;
};

const fakeClient = (id: string): Client => ({ id }) as unknown as Client;
const sessionOf = new Map<Client, Successor>();
const agentSessionOf = (client: Client) => sessionOf.get(client);

describe('trackDisconnectReasons: the session that took a client id over', () => {
  it('this node\'s announcement of an agent\'s connection carries its session', () => {
    const mq = fakeMq();
    const tracker = trackDisconnectReasons(mq);
    const broker = fakeBroker('broker-a');
    tracker.attach(broker as unknown as Aedes, agentSessionOf);
    const client = fakeClient('acme_pump-1');
    sessionOf.set(client, { tenant: 'acme', agentId: 'agent-1', sessionId: 'node-a.1' });
    broker.registerClient(client);
    mq.emit({ topic: '$SYS/broker-a/new/clients', payload: Buffer.from('acme_pump-1') } as { topic: string });
    mq.emit({ topic: '$SYS/broker-a/new/clients', payload: Buffer.from('acme_app') } as { topic: string });
    assert.deepEqual((mq.emitted[0] as Record<string, unknown>).trustgateSuccessor, { tenant: 'acme', agentId: 'agent-1', sessionId: 'node-a.1' });
    assert.equal((mq.emitted[1] as Record<string, unknown>).trustgateSuccessor, undefined, 'not an agent\'s (no session): nothing carried');
  });

  it('another node\'s announcement names the successor of the connection it takes over; a malformed one names none', () => {
    const mq = fakeMq();
    const tracker = trackDisconnectReasons(mq);
    const broker = fakeBroker('broker-b');
    tracker.attach(broker as unknown as Aedes, agentSessionOf);
    const loser = fakeClient('acme_pump-1');
    broker.registerClient(loser);
    mq.deliver({ topic: '$SYS/broker-a/new/clients', payload: Buffer.from('acme_pump-1'), trustgateSuccessor: { tenant: 'acme', agentId: 'agent-1', sessionId: 'node-a.1' } } as { topic: string; payload: unknown });
    assert.equal(disconnectCauseOf(loser).reason, 'takeover');
    assert.deepEqual(successorOf(loser), { tenant: 'acme', agentId: 'agent-1', sessionId: 'node-a.1' });

    for (const malformed of [undefined, 'node-a.1', { tenant: 'acme', agentId: 'agent-1' }, { tenant: 'acme', agentId: 'agent-1', sessionId: 'x'.repeat(65) }, { tenant: 1, agentId: 'agent-1', sessionId: 'node-a.1' }]) {
      const other = fakeClient('acme_pump-2');
      broker.clients['acme_pump-2'] = other;
      mq.deliver({ topic: '$SYS/broker-a/new/clients', payload: Buffer.from('acme_pump-2'), trustgateSuccessor: malformed } as { topic: string; payload: unknown });
      assert.equal(disconnectCauseOf(other).reason, 'takeover', 'still a takeover');
      assert.equal(successorOf(other), undefined, `no successor from ${JSON.stringify(malformed)}`);
    }
  });

  it('a newer connection on this node is the successor of the one it takes over', () => {
    const tracker = trackDisconnectReasons(undefined);
    const broker = fakeBroker('broker-c');
    tracker.attach(broker as unknown as Aedes, agentSessionOf);
    const older = fakeClient('acme_pump-1');
    broker.registerClient(older);
    const newer = fakeClient('acme_pump-1');
    sessionOf.set(newer, { tenant: 'acme', agentId: 'agent-1', sessionId: 'node-c.2' });
    broker.registerClient(newer);
    assert.equal(disconnectCauseOf(older).reason, 'takeover');
    assert.deepEqual(successorOf(older), { tenant: 'acme', agentId: 'agent-1', sessionId: 'node-c.2' });
    assert.equal(successorOf(newer), undefined);
  });
});
