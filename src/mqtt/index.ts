export { startMqttBroker, type MqttBrokerOptions, type RunningMqttBroker } from './start-mqtt-broker.ts';
export { mayPublish, maySubscribe } from './topic-rules.ts';
export type { BrokerPrincipal } from './broker-principal.ts';
export { MAX_PAYLOAD_BYTES } from './authorize-packets.ts';
