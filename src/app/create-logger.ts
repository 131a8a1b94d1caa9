import pino, { type Logger } from 'pino';

// Structured JSON logs on stdout. Authorization headers and request bodies are never logged
// (Fastify's default request serializer leaves them out; the redaction is a second lock).
export const createLogger = (level: string): Logger => pino({
  level,
  redact: { paths: ['req.headers.authorization', 'headers.authorization', 'body', 'req.body'], censor: '[redacted]' },
});
