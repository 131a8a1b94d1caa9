import { isTenantId } from '../shared/index.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import { mayPublish, type Publisher } from './topic-rules.ts';

// Every message that enters the broker — PUBLISH, will, retained, queued, or
// arriving from another node — passes the topic rules of its publisher as accepted, and every
// delivery the receiver's. aedes keeps no publisher with a message: a will of a node that died
// reaches `authorizePublish` without a client, and a retained or queued message read back from
// Redis (possibly written by an older node) cannot say who sent it. So each accepted message
// carries its publisher, as the rules see it, from entry to every delivery and through the
// persistence (docs/decisions/0014-messages-enter-through-the-rules.md).
//
// It rides in `packet.properties`: the one field aedes-packet copies onto every derived packet,
// which mqemitter-redis and aedes-persistence-redis serialise whole, and which mqtt-packet writes
// only to MQTT 5 clients (aedes 1.2 refuses MQTT 5: a CONNECT with protocol level 5 gets CONNACK 1),
// so it never reaches the wire.
export const PUBLISHER_PROPERTY = 'trustgatePublisher';

interface StampedPacket {
  properties?: Record<string, unknown> | undefined;
}

// One frozen `properties` object per principal: stamping costs no allocation per message.
const stamps = new WeakMap<BrokerPrincipal, Readonly<Record<string, Publisher>>>();
// The frozen publishers of those stamps that passed `isPublisher` when made: frozen, they cannot
// fail it later, so a message stamped on this node is not checked field by field at every delivery.
const checkedPublishers = new WeakSet<object>();

/** What the rules need of a principal: nothing that identifies a session or a certificate. */
export const publisherOf = (principal: BrokerPrincipal): Publisher =>
  principal.kind === 'agent'
    ? { kind: 'agent', tenant: principal.tenant, clientId: principal.clientId }
    : { kind: 'application', tenant: principal.tenant, clientId: principal.clientId, mayPublish: principal.mayPublish };

/** Records `principal` as the publisher of `packet` (replacing anything a client put there). */
export const stampPublisher = (packet: object, principal: BrokerPrincipal): void => {
  let properties = stamps.get(principal);
  if (!properties) {
    const publisher = Object.freeze(publisherOf(principal));
    if (isPublisher(publisher)) checkedPublishers.add(publisher);
    properties = Object.freeze({ [PUBLISHER_PROPERTY]: publisher });
    stamps.set(principal, properties);
  }
  (packet as StampedPacket).properties = properties;
};

// Read back from Redis, a stamp is data: checked field by field, and anything else is no stamp.
function isPublisher(value: unknown): value is Publisher {
  if (typeof value !== 'object' || value === null) return false;
  if (checkedPublishers.has(value)) return true;
  const candidate = value as Record<string, unknown>;
  if (!isTenantId(candidate.tenant) || typeof candidate.clientId !== 'string') return false;
  if (candidate.kind === 'agent') return true;
  return candidate.kind === 'application' && typeof candidate.mayPublish === 'boolean';
}

/** The publisher recorded on `packet`, or undefined if it carries none (or a malformed one). */
export const stampedPublisherOf = (packet: object): Publisher | undefined => {
  const properties = (packet as StampedPacket).properties;
  const publisher = typeof properties === 'object' && properties !== null ? properties[PUBLISHER_PROPERTY] : undefined;
  return isPublisher(publisher) ? publisher : undefined;
};

/** Fail closed: a message whose publisher is unknown, or was not allowed its topic, was never accepted. */
export const wasAcceptedFrom = (packet: { readonly topic: string }): boolean => {
  const publisher = stampedPublisherOf(packet);
  return publisher !== undefined && mayPublish(publisher, packet.topic);
};
