export { LocalEventBus, type RegistryEventListener } from './local-event-bus.ts';
export { RedisClusterBus, type RedisClusterBusOptions, type ResyncHandler } from './redis-cluster-bus.ts';
export {
  createRedisBrokerBackplane, type BrokerMessageEmitter, type BrokerSessionPersistence, type RedisBrokerBackplane, type RedisBrokerBackplaneOptions,
} from './redis-broker-backplane.ts';
export { describeRedisUrl } from './redis-connection.ts';
