export { configSchema, MAX_NODE_ID_LENGTH, type Config, type LogFormat, type Setting } from './config-schema.ts';
export { loadConfig, ConfigError } from './load-config.ts';
export {
  MINDCONNECT_RATE_LIMITS, NO_RATE_LIMITS, parseRateLimitPolicy, type ConnectRate, type RateLimitPolicy, type RateWindow, type RestRateLimitRule,
} from './rate-limit-policy.ts';
