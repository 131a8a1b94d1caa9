import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Aedes, Client } from 'aedes';

// aedes 1.2's 'client' and 'clientDisconnect' are not a pair. After `authenticate`, a CONNECT
// takes several persistence calls (Redis round trips in a cluster) before aedes registers the
// client; a connection dropped in that window closes a client that is not registered yet, so
// `Client#close` unregisters nothing (or, if another connection holds the same client id on this
// node, unregisters that one: lib/client.js checks `broker.clients[id]`, not the client), and
// aedes then registers the closed client anyway. trustgate's per-connection state — the session
// registry, the deadline timer, the tenant's filter count, the session's expiry clock — waited
// for a 'clientDisconnect' that never came: a persistent session that never expired, filter caps
// filled by ghosts, a closed Client kept per dropped connection.
//
// So that state follows two events of its own instead:
// - CLIENT_READY: aedes registered the client and its connection is still open;
// - CLIENT_GONE (client, wasReady): once per client, when aedes unregisters it or its socket
//   closes, whichever comes first.
// A closed client aedes registers anyway is taken out of `broker.clients` again, so nothing
// (takeover, the expiry sweep, queue caps) mistakes it for a connected one; and the open
// connection that held its client id, if the dropped one unregistered it (aedes deletes the entry
// by id, whoever holds it), is put back, so a later connection with that id (here, or announced
// by another node) still takes it over: one session per client id (MQTT-3.1.4-2).
export const CLIENT_READY = 'trustgate:clientReady';
export const CLIENT_GONE = 'trustgate:clientGone';

/** Listens for CLIENT_READY (aedes' Aedes type knows only its own event names). */
export const onClientReady = (broker: Aedes, listener: (client: Client) => void): void => {
  (broker as unknown as EventEmitter).on(CLIENT_READY, listener);
};

/** Listens for CLIENT_GONE: once per client; `wasReady` if CLIENT_READY came for it. */
export const onClientGone = (broker: Aedes, listener: (client: Client, wasReady: boolean) => void): void => {
  (broker as unknown as EventEmitter).on(CLIENT_GONE, listener);
};

interface ClosableClient { readonly id: string; readonly closed?: boolean; readonly conn: Socket }

export interface ClientLifecycle {
  /** For each new connection, right after `broker.handle(socket)`. */
  guard(client: Client): void;
}

export const pairClientEvents = (broker: Aedes): ClientLifecycle => {
  const clients = (broker as unknown as { clients: Record<string, Client | undefined>; connectedClients: number; deleteClient(id: string): void });
  const ready = new WeakSet<Client>();
  /** The ready client holding each client id on this node. */
  const readyById = new Map<string, Client>();
  const isClosed = (client: Client): boolean => (client as unknown as ClosableClient).closed === true;
  // Puts the open connection holding `id` back where aedes looks clients up, as registerClient
  // would have left it (the entry and the count).
  const reinstate = (id: string): void => {
    const holder = readyById.get(id);
    if (!holder || isClosed(holder) || clients.clients[id] === holder) return;
    if (clients.clients[id] !== undefined) clients.deleteClient(id);
    clients.clients[id] = holder;
    clients.connectedClients += 1;
  };
  const gone = new WeakSet<Client>();
  const clientOfSocket = new WeakMap<Socket, Client>();

  const leave = (client: Client): void => {
    if (gone.has(client)) return;
    gone.add(client);
    if (readyById.get(client.id) === client) readyById.delete(client.id);
    (broker as unknown as EventEmitter).emit(CLIENT_GONE, client, ready.has(client));
  };
  // One shared listener, no closure per connection.
  function onSocketClosed(this: Socket): void {
    const client = clientOfSocket.get(this);
    if (client) leave(client);
  }

  broker.on('client', (client: Client) => {
    if (isClosed(client) || gone.has(client)) {
      if (clients.clients[client.id] === client) {
        clients.deleteClient(client.id);
        reinstate(client.id);
      }
      return;
    }
    ready.add(client);
    readyById.set(client.id, client);
    (broker as unknown as EventEmitter).emit(CLIENT_READY, client);
  });
  broker.on('clientDisconnect', (client: Client) => {
    leave(client);
    if (clients.clients[client.id] === undefined) reinstate(client.id);
  });

  return {
    guard(client) {
      const socket = (client as unknown as ClosableClient).conn;
      clientOfSocket.set(socket, client);
      // `on`, not `once`: 'close' comes once anyway, and `once` wraps the listener per socket.
      socket.on('close', onSocketClosed);
    },
  };
};
