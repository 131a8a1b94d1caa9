import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ClusterBus, RegistryEvent } from '../registry/index.ts';
import { LocalEventBus } from './local-event-bus.ts';
import { RedisClusterBus } from './redis-cluster-bus.ts';

export interface ClusterBusOptions {
  /** TRUSTGATE_REDIS_URL: with it, events travel between the nodes sharing that Redis; without,
   *  they stay in this process. */
  readonly redisUrl: string | undefined;
  /** Namespaces the Redis channel (TRUSTGATE_REDIS_PREFIX). */
  readonly redisPrefix: string;
  /** This node's id (TRUSTGATE_NODE_ID or the host name). */
  readonly nodeId: string;
  /** TRUSTGATE_CLUSTER_PING_MS: the subscription counts as lost after twice this long without a ping back. */
  readonly pingIntervalMs?: number;
  readonly logger: Logger;
}

/** The one place that chooses the bus: everything else holds the ClusterBus port. Does no I/O (start() does). */
export const createClusterBus = ({ redisUrl, redisPrefix, nodeId, pingIntervalMs, logger }: ClusterBusOptions): ClusterBus => {
  const onListenerError = (error: unknown, event: RegistryEvent) => logger.error({ err: error, event }, 'registry event listener failed');
  if (!redisUrl) return new LocalEventBus(onListenerError);
  // A bus ignores its own messages by this id: unique per process, so two nodes that were given
  // the same TRUSTGATE_NODE_ID (or share a host name) still hear each other's trust changes.
  return new RedisClusterBus({ url: redisUrl, nodeId: `${nodeId}-${randomUUID().slice(0, 8)}`, channelPrefix: redisPrefix, onListenerError, logger,
    ...(pingIntervalMs === undefined ? {} : { pingIntervalMs, silenceLimitMs: 2 * pingIntervalMs }),
  });
};
