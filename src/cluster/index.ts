export { createClusterBus, type ClusterBusOptions } from './create-cluster-bus.ts';
export { LocalEventBus } from './local-event-bus.ts';
export { RedisClusterBus, type RedisClusterBusOptions } from './redis-cluster-bus.ts';
export {
  createRedisBrokerBackplane, type BrokerMessageEmitter, type BrokerSessionPersistence, type RedisBrokerBackplane, type RedisBrokerBackplaneOptions,
  backplaneMessageDropReasons, type BackplaneMessageDropReason,
} from './redis-broker-backplane.ts';
export { backplaneDropReasons, type BackplaneDropReason } from './guard-backplane-messages.ts';
export { describeRedisUrl } from './redis-connection.ts';
export { createRedisProbe, type RedisProbe, type RedisProbeResult } from './redis-probe.ts';
export { createRateLimitRedis, RATE_LIMIT_COMMAND_TIMEOUT_MS, type RateLimitRedis } from './rate-limit-redis.ts';
