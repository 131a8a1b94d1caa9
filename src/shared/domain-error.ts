import type { ErrorCode } from './error-catalogue.ts';

// The single error type of the domain: a stable code, a message a person can act on, optional
// structured details. No HTTP or MQTT numbers here; each front door maps codes in one table.
export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'DomainError';
    this.code = code;
    this.details = options.details;
  }
}

export const isDomainError = (error: unknown): error is DomainError => error instanceof DomainError;
