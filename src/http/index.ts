export { API_BASE_PATH, BODY_LIMIT_BYTES, createHttpServer, type HttpServerOptions, type ReadinessReport } from './create-http-server.ts';
export { httpStatusByCode } from './error-status.ts';
export { RateLimitPolicyError } from './rest-rate-limits.ts';
