import type { AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from 'pino';
import type { BrokerMetrics } from './broker-metrics.ts';
import { stampPublisher, wasAcceptedFrom } from './message-publisher.ts';
import { isCheckedRetained, isStoredWill } from './message-walls.ts';
import type { SessionRegistry } from './session-registry.ts';
import { mayReceive, maySubscribe, whyPublishRefused } from './topic-rules.ts';

// Payloads up to 128 KiB (README, "Connect an agent"). (QoS 2 subscriptions are lowered to 1 in guard-packets.ts,
// before aedes computes the granted QoS.)
export const MAX_PAYLOAD_BYTES = 128 * 1024;

export interface AuthorizeDependencies {
  readonly sessions: SessionRegistry;
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
}

// aedes closes the connection when this calls back with an error [MQTT-3.3.5-2 leaves it open to the server].
export const createAuthorizePublish = ({ sessions, logger, metrics }: AuthorizeDependencies) =>
  (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void => {
    // aedes' own `$SYS` messages never come here. Without a client (or with one that merely holds
    // the same client id on this node now) it is the will of a client of a node that died, read
    // from the persistence: judged by the publisher stamped on it at CONNECT, fail closed
    // (message-walls.ts has already dropped those without one).
    if (!client || isStoredWill(packet)) {
      if (wasAcceptedFrom(packet)) return callback(null);
      metrics.messagesRefused.labels('storedWill').inc();
      logger.warn({ topic: String(packet.topic).slice(0, 256) }, 'mqtt will of a stopped node refused: no publisher recorded, or not allowed the topic');
      return callback(new Error('publish denied: no publisher allowed this message'));
    }
    const principal = sessions.principalOf(client);
    const size = packet.payload?.length ?? 0;
    const reason = !principal ? 'no session'
      : size > MAX_PAYLOAD_BYTES ? `payload of ${size} bytes exceeds ${MAX_PAYLOAD_BYTES}`
        : whyPublishRefused(principal, packet.topic);
    if (principal && reason === undefined) {
      stampPublisher(packet, principal);
      metrics.traffic.received += 1;
      return callback(null);
    }
    metrics.deniedPublishes.inc();
    logger.warn({ clientId: client.id, tenant: principal?.tenant, topic: packet.topic.slice(0, 256), reason }, 'mqtt publish denied, closing the connection');
    callback(new Error(`publish denied: ${reason}`));
  };

export const createAuthorizeSubscribe = ({ sessions, logger }: AuthorizeDependencies) =>
  (client: Client, subscription: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void => {
    const principal = sessions.principalOf(client);
    if (!principal || !maySubscribe(principal, subscription.topic)) {
      logger.info({ clientId: client.id, tenant: principal?.tenant, topic: subscription.topic.slice(0, 256) }, 'mqtt subscription refused');
      // A null subscription makes aedes answer 0x80 for this filter and keep the connection.
      return callback(null, null);
    }
    callback(null, subscription);
  };

// aedes delivers messages queued for a persistent session through `authorizeForward` only; a
// client id's session may have been prepared by a different principal, so every delivery is
// checked against the receiver's own walls. And against the publisher's: a message read back
// from the persistence (queued, or written by another node) is delivered only if it carries a
// publisher allowed its topic (message-publisher.ts); retained ones were checked as they were read.
export const createAuthorizeForward = ({ sessions, logger, metrics }: AuthorizeDependencies) =>
  (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const principal = sessions.principalOf(client);
    if (!principal || !mayReceive(principal, packet.topic)) return null;
    if (wasAcceptedFrom(packet) || isCheckedRetained(packet)) {
      metrics.traffic.sent += 1;
      return packet;
    }
    metrics.messagesRefused.labels('delivery').inc();
    logger.debug({ clientId: client.id, topic: packet.topic.slice(0, 256) }, 'mqtt message not delivered: its publisher is unknown or was not allowed the topic');
    return null;
  };
