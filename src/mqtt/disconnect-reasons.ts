import type { Socket } from 'node:net';
import type { Aedes, Client } from 'aedes';

// Why a session ended, for the one log line each disconnect gets (start-mqtt-broker.ts). Whoever
// closes a client on purpose marks it first (drain, trust change, expiry); what the peer or the
// network did is read from aedes (a DISCONNECT packet, a client error) and from the socket; a
// takeover of the client id (here or announced by another node) is seen where aedes closes the
// older connection. The first mark wins: a socket that ends after the broker closed it for a trust
// change is still logged as that trust change.
export type DisconnectReason =
  /** The client sent DISCONNECT. */
  | 'clientDisconnect'
  /** The client (or the network) closed the connection without DISCONNECT. */
  | 'connectionLost'
  | 'socketError'
  | 'keepaliveTimeout'
  /** A newer connection with the same client id, on this node or another. */
  | 'takeover'
  /** This node is shutting down and moved its clients to the other nodes. */
  | 'drain'
  /** A CA deleted, an agent disabled or deleted, an agent certificate revoked. */
  | 'trustWithdrawn'
  /** The token, agent certificate or CA that admitted the session expired. */
  | 'expired'
  /** The node closed its remaining connections at shutdown (a single node, or after the drain). */
  | 'shutdown'
  /** An agent published faster than TRUSTGATE_MQTT_MAX_PUBLISHES_PER_SECOND_PER_AGENT allows (broker-quotas.ts). */
  | 'publishRateExceeded'
  /** Anything else the broker closed (a cap, a malformed packet, a slow consumer: each logs its own line). */
  | 'closedByBroker';

export interface DisconnectCause {
  readonly reason: DisconnectReason;
  /** A code or an error message, when there is one (bounded). */
  readonly detail?: string;
}

const causes = new WeakMap<Client, DisconnectCause>();

/** The agent session that took a client id over: the session id of the newer connection, with its agent. */
export interface Successor {
  readonly tenant: string;
  readonly agentId: string;
  readonly sessionId: string;
}

const successors = new WeakMap<Client, Successor>();

/** The agent session that took `client` over, when it was an agent's and is known. */
export const successorOf = (client: Client): Successor | undefined => successors.get(client);

// Carried in the takeover announcement (`$SYS/<brokerId>/new/clients`) next to aedes' own fields;
// aedes and nodes without it ignore it.
const SUCCESSOR_FIELD = 'trustgateSuccessor';
// agents.session_id is varchar(64); resource ids and tenants are shorter still.
const MAX_SUCCESSOR_FIELD_LENGTH = 64;

const isBoundedString = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_SUCCESSOR_FIELD_LENGTH;

/** The successor an announcement carries, if well formed (Redis is trusted, but checked anyway). */
const successorIn = (packet: object): Successor | undefined => {
  const value = (packet as Record<string, unknown>)[SUCCESSOR_FIELD];
  if (typeof value !== 'object' || value === null) return undefined;
  const { tenant, agentId, sessionId } = value as Record<string, unknown>;
  return isBoundedString(tenant) && isBoundedString(agentId) && isBoundedString(sessionId) ? { tenant, agentId, sessionId } : undefined;
};

/** Records why `client` is about to close; an earlier cause is kept. */
export const markDisconnect = (client: Client, reason: DisconnectReason, detail?: string): void => {
  if (!causes.has(client)) causes.set(client, detail === undefined ? { reason } : { reason, detail: detail.slice(0, 200) });
};

/** Why `client` closed (call once it has); `otherwise` when nothing recorded a cause. */
export const disconnectCauseOf = (client: Client, otherwise: DisconnectReason = 'closedByBroker'): DisconnectCause => {
  if ((client as unknown as { _disconnected?: boolean })._disconnected === true) return { reason: 'clientDisconnect' };
  return causes.get(client) ?? { reason: otherwise };
};

interface Announcements {
  on(topic: string, listener: (packet: { topic: string; payload: unknown }, done: () => void) => void, callback?: () => void): void;
  emit(packet: { readonly topic: string }, callback?: (error?: Error) => void): void;
}

export interface DisconnectReasons {
  /** For each new connection, right after `broker.handle(socket)`. */
  guard(client: Client): void;
}

/**
 * Installs what marks the causes the broker does not choose: takeovers, client errors, sockets
 * ended by the peer. `mq` is the cluster's message emitter, given before aedes is built on it, so
 * this node hears another node's takeover announcement before aedes closes the connection it takes
 * over; undefined on a single node (no other node takes ids over).
 */
export const trackDisconnectReasons = (mq: object | undefined) => {
  let brokerOf: Aedes | undefined;
  let agentSessionOf: (client: Client) => Successor | undefined = () => undefined;
  const clientIdOf = (payload: unknown): string => Buffer.isBuffer(payload) ? payload.toString('utf8') : String(payload);
  if (mq) {
    const announcements = mq as Announcements;
    announcements.on('$SYS/+/new/clients', (packet, done) => {
      const serverId = packet.topic.split('/')[1];
      const holder = brokerOf ? (brokerOf as unknown as { clients: Record<string, Client | undefined> }).clients[clientIdOf(packet.payload)] : undefined;
      if (brokerOf && holder && serverId !== brokerOf.id) {
        markDisconnect(holder, 'takeover', 'a connection with the same client id on another node');
        const successor = successorIn(packet);
        if (successor && !successors.has(holder)) successors.set(holder, successor);
      }
      done();
    });
    // This node's announcements carry the agent session they announce: the node whose connection
    // it takes over hands the agent's online state to it (start-mqtt-broker.ts).
    const emit = announcements.emit.bind(mq);
    announcements.emit = (packet, callback) => {
      if (brokerOf && packet.topic === `$SYS/${brokerOf.id}/new/clients`) {
        const client = (brokerOf as unknown as { clients: Record<string, Client | undefined> }).clients[clientIdOf((packet as { payload?: unknown }).payload)];
        const successor = client && agentSessionOf(client);
        if (successor) (packet as Record<string, unknown>)[SUCCESSOR_FIELD] = { ...successor };
      }
      emit(packet, callback);
    };
  }
  function onPeerEnded(this: Socket): void {
    const client = clientOfSocket.get(this);
    if (client) markDisconnect(client, 'connectionLost');
  }
  const clientOfSocket = new WeakMap<Socket, Client>();
  return {
    /** Once the broker exists; `agentSessionOf` names a connected client's agent session (undefined for other clients). */
    attach(broker: Aedes, agentSessionOf_: (client: Client) => Successor | undefined = () => undefined): DisconnectReasons {
      brokerOf = broker;
      agentSessionOf = agentSessionOf_;
      // aedes closes the connection holding a client id before it registers the new one
      // [MQTT-3.1.4-2].
      const registry = broker as unknown as { clients: Record<string, Client | undefined>; registerClient(client: Client): void };
      const registerClient = registry.registerClient.bind(broker);
      registry.registerClient = (client: Client) => {
        const holder = registry.clients[client.id];
        if (holder && holder !== client) {
          markDisconnect(holder, 'takeover', 'a newer connection with the same client id on this node');
          const successor = agentSessionOf(client);
          if (successor && !successors.has(holder)) successors.set(holder, successor);
        }
        registerClient(client);
      };
      broker.on('clientError', (client: Client, error: Error) => {
        if (error.message === 'keep alive timeout') markDisconnect(client, 'keepaliveTimeout');
        else markDisconnect(client, 'socketError', error.message);
      });
      return {
        guard(client) {
          const socket = (client as unknown as { conn: Socket }).conn;
          clientOfSocket.set(socket, client);
          // Before aedes' own 'end' listener, which closes the client. Not a once-listener: 'end'
          // comes once anyway, and `once` wraps the listener per socket.
          socket.prependListener('end', onPeerEnded);
        },
      };
    },
  };
};
