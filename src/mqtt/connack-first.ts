import type { Client } from 'aedes';

// [MQTT-3.2.0-1] The first packet the server sends on a connection is the CONNACK. aedes 1.2
// restores a persistent session's filters into the emitter before it answers the CONNECT (its
// will step comes in between: Redis round trips in a cluster), and wrote what they caught
// meanwhile at once: its write() lets a connection that is still connecting write. In a cluster
// that is any message crossing Redis while a persistent session reconnects (a publisher's own
// message comes back to its node through Redis after its PUBACK). MQTT.js answers such a QoS 1
// PUBLISH with a PUBACK it keeps until connected, and reads no further packet until that PUBACK
// is sent: it never read the CONNACK behind it ("connack timeout"), and the broker kept a session
// nobody used until the keepalive ended it.
//
// So a connection's deliveries (the functions aedes reads from the client when it adds a
// subscription) are dropped until its CONNACK is written, as if the session were still offline:
// only a persistent session has filters then, and each QoS 1 message for it is in its queue
// already (aedes stores it for the session before the message enters the emitter, so before it
// can reach this node), which aedes replays right after the CONNACK. Delivered as well, it would
// come twice and past the session's queue cap. A QoS 0 message is not stored for a session away:
// it was sent before the session was back.

type Deliver = (packet: object, callback: () => void) => void;

interface DeliveringClient {
  deliver0: Deliver;
  deliverQoS: Deliver;
  /** Set by aedes once the CONNACK is written. */
  readonly connackSent: boolean;
}

/** For each new connection, right after `broker.handle(socket)` (before its CONNECT is read). */
export const connackFirst = (client: Client): void => {
  const delivering = client as unknown as DeliveringClient;
  const { deliver0, deliverQoS } = delivering;
  // aedes' own deliveries call back on a later turn; so does a dropped one.
  delivering.deliver0 = (packet, callback) => {
    if (delivering.connackSent) deliver0(packet, callback);
    else setImmediate(callback);
  };
  delivering.deliverQoS = (packet, callback) => {
    if (delivering.connackSent) deliverQoS(packet, callback);
    else setImmediate(callback);
  };
};
