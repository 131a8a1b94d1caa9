export { AGENT_EVENT_DEFAULTS, API_BASE_PATH, BODY_LIMIT_BYTES, createHttpServer, type AgentEventSettings, type HttpServerOptions, type ReadinessReport } from './create-http-server.ts';
export { httpStatusByCode } from './error-status.ts';
export { CONSOLE_PATH } from './console/console-routes.ts';
export { RateLimitPolicyError } from './rest-rate-limits.ts';
export { COMMANDING_BASE_PATH } from './delivery-jobs/delivery-job-routes.ts';
