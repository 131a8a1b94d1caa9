export { configSchema, type Config, type LogFormat, type Setting } from './config-schema.ts';
export { loadConfig, ConfigError } from './load-config.ts';
