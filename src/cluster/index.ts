export { LocalEventBus, type RegistryEventListener } from './local-event-bus.ts';
