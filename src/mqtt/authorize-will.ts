import type { Client } from 'aedes';
import { DomainError } from '../shared/index.ts';
import { MAX_PAYLOAD_BYTES } from './authorize-packets.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import { stampPublisher } from './message-publisher.ts';
import { mayPublish } from './topic-rules.ts';

interface WillPacket {
  readonly topic: string;
  readonly payload?: Buffer;
}

// aedes 1.2 keeps the CONNECT's will in `client._will` while `authenticate` runs and stores it
// (in the shared persistence, in a cluster) only after it succeeds (lib/handlers/connect.js).
const willOf = (client: Client): WillPacket | undefined =>
  (client as unknown as { _will?: WillPacket | null })._will ?? undefined;

/**
 * A will is checked at CONNECT against the publish rules of the principal
 * connecting — it is a PUBLISH the broker will send for it later, perhaps from another node, when
 * nobody can be asked any more. A will the principal could not publish refuses the CONNECT
 * (`mqtt.willNotAllowed`, CONNACK 5); an allowed one is stamped with its publisher, which goes
 * with it into the persistence (message-publisher.ts).
 */
export const admitWill = (client: Client, principal: BrokerPrincipal): void => {
  const will = willOf(client);
  if (!will) return;
  const size = will.payload?.length ?? 0;
  if (size > MAX_PAYLOAD_BYTES) {
    throw new DomainError('mqtt.willNotAllowed', `The will message's payload of ${size} bytes exceeds ${MAX_PAYLOAD_BYTES}. Connect with a smaller will or none.`);
  }
  if (!mayPublish(principal, will.topic)) {
    const allowed = principal.kind === 'agent'
      ? `tc/${principal.tenant}/${principal.clientId}/o/...`
      : principal.mayPublish ? `tc/${principal.tenant}/<clientId>/i/...` : 'nowhere (a token with mcmqtt.read only publishes nothing)';
    throw new DomainError('mqtt.willNotAllowed', `The will topic "${String(will.topic).slice(0, 256)}" is not one this client may publish to; allowed: ${allowed}. Connect with a will on an allowed topic or none.`);
  }
  stampPublisher(will, principal);
};
