import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDomainError, type ErrorCode } from '../shared/index.ts';
import { errorBody } from './error-body.ts';
import { httpStatusByCode } from './error-status.ts';
import { REFUSAL_HEADERS } from './security-headers.ts';

interface Answer {
  readonly code: ErrorCode;
  readonly message: string;
}

const describeValidation = (error: FastifyError): string => {
  const where = error.validationContext ?? 'request';
  const [first] = error.validation ?? [];
  if (!first) return `Invalid ${where}.`;
  const path = first.instancePath ? `${where}${first.instancePath.replaceAll('/', '.')}` : where;
  const params = first.params as Record<string, unknown>;
  switch (first.keyword) {
    case 'required': return `${where} is missing the required field "${String(params.missingProperty)}".`;
    case 'type': return `${path} must be of type ${String(params.type)}.`;
    case 'minLength': return `${path} must not be empty.`;
    case 'maxLength': return `${path} must be at most ${String(params.limit)} characters long.`;
    default: return `${path} ${first.message ?? 'is invalid'}.`;
  }
};

// Fastify's own errors (parsing, limits, validation) become catalogue codes; DomainErrors carry
// theirs; everything else is a 500 whose details go to the log only.
const classify = (error: FastifyError): Answer | undefined => {
  if (isDomainError(error)) return { code: error.code, message: error.message };
  if (error.validation) {
    return { code: 'request.invalid', message: `${describeValidation(error)} See /api/mindconnectmqtt/v3/openapi.json for the request format.` };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'request.bodyTooLarge', message: 'The request body is larger than this endpoint takes (64 KiB; 8 MiB for PUT …/crl). Send a single PEM certificate, not a bundle.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'request.unsupportedMediaType', message: 'Send the body as JSON with "Content-Type: application/json".' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'request.invalid', message: 'The JSON body is empty. Send a JSON object.' };
  }
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return { code: 'request.malformedJson', message: 'The body is not valid JSON. If you paste PEM into JSON, escape its newlines as \\n (e.g. awk -v ORS=\'\\\\n\' \'1\' ca.pem).' };
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return { code: 'request.invalid', message: `The request is malformed: ${error.message}` };
  }
  return undefined;
};

export const handleErrors = (app: FastifyInstance): void => {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const answer = classify(error);
    if (!answer) {
      request.log.error({ err: error }, 'unexpected error');
      return reply.code(500).send(errorBody('internal', request.id, `An unexpected error occurred. Report the logref ${request.id} to your operator.`));
    }
    const status = httpStatusByCode[answer.code];
    if (status >= 500) request.log.error({ err: error, code: answer.code }, answer.message);
    else request.log.info({ code: answer.code }, 'request refused');
    // A limit that names its end (renewal.tooSoon): RFC 9110 §10.2.3.
    const retryAt = isDomainError(error) ? (error.details as { retryAt?: unknown } | undefined)?.retryAt : undefined;
    if (status === 429 && typeof retryAt === 'string') reply.header('retry-after', String(Math.max(1, Math.ceil((Date.parse(retryAt) - Date.now()) / 1000))));
    return reply.code(status).send(errorBody(answer.code, request.id, answer.message));
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('request.routeNotFound', request.id, `No route ${request.method} ${request.url.split('?')[0]}. See /api/mindconnectmqtt/v3/openapi.json for the routes.`)));
};

// Errors Fastify raises before routing (bad URL encoding, over-long path parameters).
export const answerFrameworkError = (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
  const isTooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  request.log.info({ code: error.code }, 'request refused before routing');
  // No hook ran (helmet's nor the console's): the refusal carries the API's headers by hand.
  void reply.headers(REFUSAL_HEADERS);
  void reply.code(isTooLong ? 404 : 400).send(isTooLong
    ? errorBody('request.routeNotFound', request.id, 'No such resource: the path parameter is longer than any id.')
    : errorBody('request.invalid', request.id, `The request URL is malformed (${error.message}). Percent-encode path segments correctly.`));
};
