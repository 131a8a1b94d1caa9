import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { issueCertificate, type IssueOptions, type TestCertificate } from './test-pki.ts';
import type { TestServer } from './start-test-server.ts';

// Shared helpers for the black-box API tests under test/api: real HTTP against a real server.

export interface ApiAnswer {
  readonly status: number;
  readonly body: any;
  readonly text: string;
  readonly headers: Headers;
}

/** A fresh tenant id (lowercase, no `_`), so tests in one file never share state. */
export const newTenant = (prefix = 't'): string => `${prefix}-${randomBytes(5).toString('hex')}`;

const parse = (text: string): unknown => {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/**
 * A request with full control: a raw string body, any content type, any Authorization header.
 * `authorization: null` sends no header; undefined sends an admin dev token for `tenant`.
 */
export const rawRequest = async (
  server: TestServer,
  path: string,
  init: {
    tenant?: string;
    method?: string;
    body?: string | Buffer;
    contentType?: string | null;
    authorization?: string | null;
    base?: 'api' | 'root';
  } = {},
): Promise<ApiAnswer> => {
  const headers: Record<string, string> = {};
  if (init.authorization === undefined) headers.authorization = `Bearer ${await server.token(init.tenant ?? 'raw-tenant')}`;
  else if (init.authorization !== null) headers.authorization = init.authorization;
  const contentType = init.contentType === undefined ? (init.body === undefined ? null : 'application/json') : init.contentType;
  if (contentType !== null) headers['content-type'] = contentType;
  const response = await fetch(`${init.base === 'root' ? server.url : server.apiUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    body: init.body,
  });
  const text = await response.text();
  return { status: response.status, body: parse(text), text, headers: response.headers };
};

/**
 * Asserts a MindConnect error answer: the exact status, the exact body shape
 * {"errors":[{"code","logref","message"}]} (no other members), the given code, a non-empty logref
 * and a message; returns the one error for further checks.
 */
export const assertError = (
  answer: { status: number; body: any },
  status: number,
  code: string,
  message?: RegExp,
): { code: string; logref: string; message: string } => {
  const context = `answer was ${answer.status} ${JSON.stringify(answer.body)?.slice(0, 600)}`;
  assert.equal(answer.status, status, context);
  assert.ok(answer.body && typeof answer.body === 'object' && !Array.isArray(answer.body), `error body is an object; ${context}`);
  assert.deepEqual(Object.keys(answer.body), ['errors'], `error body has exactly "errors"; ${context}`);
  assert.ok(Array.isArray(answer.body.errors) && answer.body.errors.length === 1, `exactly one error; ${context}`);
  const [error] = answer.body.errors;
  assert.deepEqual(Object.keys(error).sort(), ['code', 'logref', 'message'], context);
  assert.equal(error.code, code, context);
  assert.equal(typeof error.logref, 'string');
  assert.ok(error.logref.length > 0, 'logref is not empty');
  assert.equal(typeof error.message, 'string');
  assert.ok(error.message.length >= 10, `message says something: ${error.message}`);
  if (message) assert.match(error.message, message);
  return error;
};

/** Asserts only the error body shape (any code), for fuzzing. */
export const assertErrorShape = (answer: { status: number; body: any }, context: string): void => {
  const body = answer.body;
  assert.ok(body && typeof body === 'object' && Array.isArray(body.errors) && body.errors.length === 1,
    `error body shape; ${context}; got ${answer.status} ${JSON.stringify(body)?.slice(0, 300)}`);
  const [error] = body.errors;
  assert.equal(typeof error.code, 'string', context);
  assert.equal(typeof error.logref, 'string', context);
  assert.equal(typeof error.message, 'string', context);
};

export const uploadCa = (server: TestServer, tenant: string, ca: { certificatePem: string }, name = `ca-${randomBytes(3).toString('hex')}`) =>
  server.api(tenant, '/caCertificates', { body: { name, caCertificate: ca.certificatePem } });

/** Uploads and asserts 201; returns the resource. */
export const uploadCaOk = async (server: TestServer, tenant: string, ca: { certificatePem: string }, name?: string): Promise<any> => {
  const answer = await uploadCa(server, tenant, ca, name);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
};

export const registrationCodeOf = async (server: TestServer, tenant: string, id: string): Promise<string> => {
  const answer = await server.api(tenant, `/caCertificates/${id}/registrationCode`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.registrationCode;
};

/** The proof of possession: CN = registration code, issued and signed by the CA. */
export const proofFor = (ca: TestCertificate, registrationCode: string, options: IssueOptions = {}): Promise<TestCertificate> =>
  issueCertificate(ca, { subject: `CN=${registrationCode}`, ...options });

export const verify = (server: TestServer, tenant: string, id: string, pem: string) =>
  server.api(tenant, `/caCertificates/${id}/verify`, { body: { verificationCertificate: pem } });

export const listOf = async (server: TestServer, tenant: string): Promise<any[]> => {
  const answer = await server.api(tenant, '/caCertificates');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.ok(Array.isArray(answer.body));
  return answer.body;
};

/** A 24-hex id nobody has. */
export const randomId = (): string => randomBytes(12).toString('hex');
