import type { AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from 'pino';
import type { BrokerMetrics } from './broker-metrics.ts';
import type { SessionRegistry } from './session-registry.ts';
import { mayPublish, mayReceive, maySubscribe } from './topic-rules.ts';

// SPEC: payloads up to 128 KiB. (QoS 2 subscriptions are lowered to 1 in guard-packets.ts,
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
    if (!client) return callback(null); // the broker's own messages ($SYS heartbeat)
    const principal = sessions.principalOf(client);
    const size = packet.payload?.length ?? 0;
    const reason = !principal ? 'no session'
      : size > MAX_PAYLOAD_BYTES ? `payload of ${size} bytes exceeds ${MAX_PAYLOAD_BYTES}`
        : !mayPublish(principal, packet.topic) ? 'topic not allowed' : undefined;
    if (reason === undefined) return callback(null);
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
// checked against the receiver's own walls.
export const createAuthorizeForward = ({ sessions }: Pick<AuthorizeDependencies, 'sessions'>) =>
  (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const principal = sessions.principalOf(client);
    return principal && mayReceive(principal, packet.topic) ? packet : null;
  };
