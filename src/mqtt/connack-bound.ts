import type { Socket } from 'node:net';
import type { Aedes, Client } from 'aedes';

// After `authenticate` admits a CONNECT, aedes makes several persistence calls before it writes
// the CONNACK (Redis round trips in a cluster: the session's subscriptions, the will, the
// takeover announcement). A Redis that went away in that window held the CONNECT until it came
// back, however long: the client saw no answer, gave up and was still counted and shown online
// (docs/decisions/0021-node-without-redis.md). So:
// - a connection counts as accepted (log line, counter, session gauge) only once its CONNACK 0 is
//   written: `onAccepted`;
// - an admitted CONNECT not answered within `boundMs` is answered CONNACK 3 ("server
//   unavailable") here and closed: `onTimedOut`. aedes, when it goes on later, finds the client
//   closed and registers nothing that stays (client-lifecycle.ts); its close is what detaches the
//   session and records the agent offline.

/** MQTT 3.1.1 CONNACK, session present 0, return code 3 (server unavailable). */
const CONNACK_SERVER_UNAVAILABLE = Buffer.from([0x20, 0x02, 0x00, 0x03]);
/** How long the CONNACK 3 may take to leave before the connection is cut anyway. */
const FLUSH_BOUND_MS = 1_000;

interface ConnectingClient { readonly conn: Socket; readonly closed?: boolean; readonly connackSent?: boolean }

export interface ConnackBoundOptions {
  readonly boundMs: number;
  /** Once per connection whose CONNACK 0 was written while it was still open. */
  readonly onAccepted: (client: Client) => void;
  /** Once per admitted connection answered CONNACK 3 by the bound. */
  readonly onTimedOut: (client: Client) => void;
}

export interface ConnackBound {
  /** From `authenticate`, when it admits a client: starts its clock. */
  admitted(client: Client): void;
  /** When the client is gone (CLIENT_GONE): stops its clock. */
  forget(client: Client): void;
  close(): void;
}

export const boundConnack = (broker: Aedes, options: ConnackBoundOptions): ConnackBound => {
  const clocks = new Map<Client, NodeJS.Timeout>();
  const timedOut = new WeakSet<Client>();
  const stop = (client: Client): void => {
    const clock = clocks.get(client);
    if (clock === undefined) return;
    clearTimeout(clock);
    clocks.delete(client);
  };
  const refuse = (client: Client): void => {
    clocks.delete(client);
    const connecting = client as unknown as ConnectingClient;
    if (connecting.closed === true || connecting.connackSent === true) return;
    timedOut.add(client);
    options.onTimedOut(client);
    // Nothing was written on this connection before (connack-first.ts holds deliveries back).
    const cut = setTimeout(() => client.close(), FLUSH_BOUND_MS);
    connecting.conn.end(CONNACK_SERVER_UNAVAILABLE, () => {
      clearTimeout(cut);
      client.close();
    });
  };

  broker.on('connackSent', (connack: { readonly returnCode?: number }, client: Client) => {
    stop(client);
    if (connack.returnCode !== 0 || timedOut.has(client) || (client as unknown as ConnectingClient).closed === true) return;
    options.onAccepted(client);
  });

  return {
    admitted(client) {
      stop(client);
      clocks.set(client, setTimeout(refuse, options.boundMs, client));
    },
    forget: stop,
    close() {
      for (const clock of clocks.values()) clearTimeout(clock);
      clocks.clear();
    },
  };
};
