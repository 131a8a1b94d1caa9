export { configSchema, type Config, type Setting } from './config-schema.ts';
export { loadConfig, ConfigError } from './load-config.ts';
