import { CliError, EXIT, exitCodeForHttp } from './cli-error.ts';

// The CLI's only door to a trustgate server: fetch with a bound, and every failure turned into one
// line a person can act on ("message (code)" from the server's MindConnect error body).

export const DEFAULT_URL = 'http://localhost:8080';
export const API_BASE_PATH = '/api/mindconnectmqtt/v3';
const TIMEOUT_MS = 15_000;

/** The server's root URL without a trailing slash; a URL that already ends in the API base path is accepted too. */
export const baseUrlOf = (raw: string): string => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`"${raw}" is not a URL: use e.g. ${DEFAULT_URL}`, EXIT.usage);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`"${raw}" is not an http:// or https:// URL`, EXIT.usage);
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.origin}${path.endsWith(API_BASE_PATH) ? path.slice(0, -API_BASE_PATH.length) : path}`;
};

// fetch() reports every network failure as "fetch failed"; the useful part is in its cause (an
// AggregateError when "localhost" resolves to both ::1 and 127.0.0.1).
export const describeNetworkError = (error: unknown): string => {
  if (error instanceof DOMException && error.name === 'TimeoutError') return `no answer within ${TIMEOUT_MS / 1000} s`;
  let cause = (error as { cause?: unknown }).cause ?? error;
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0];
  const code = (cause as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused; is "trustgate serve" running there?',
    ENOTFOUND: 'unknown host',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
  };
  if (code && known[code]) return `${known[code]} (${code})`;
  return (cause as Error).message || code || String(cause);
};

/** fetch, with a network failure or timeout reported as "cannot reach trustgate" (exit 69). */
export const fetchOrExplain = async (base: string, url: string, init: RequestInit = {}): Promise<{ response: Response; text: string }> => {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    return { response, text: await response.text() };
  } catch (error) {
    throw new CliError(`cannot reach trustgate at ${base}: ${describeNetworkError(error)}`, EXIT.unavailable, { cause: error });
  }
};

/** The first error of a MindConnect error body, if the text is one. */
export const serverError = (text: string): { code: string | undefined; message: string } | undefined => {
  try {
    const first = (JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] }).errors?.[0];
    if (typeof first?.message !== 'string') return undefined;
    return { code: typeof first.code === 'string' ? first.code : undefined, message: first.message };
  } catch {
    return undefined;
  }
};

/** A failed API call: the one line to print, plus what a caller may branch on. */
// The server's messages speak API ("List yours with GET /caCertificates."); a CLI user is told
// the command that does the same.
const CLI_EQUIVALENTS: readonly (readonly [RegExp, string])[] = [
  [/\bGET \/caCertificates(?![\w/{])/g, '"trustgate ca list"'],
  [/\bGET \/agents(?![\w/{])/g, '"trustgate agent list"'],
];
export const inCliTerms = (message: string): string =>
  CLI_EQUIVALENTS.reduce((text, [api, command]) => text.replace(api, command), message);

export class ApiError extends CliError {
  readonly status: number;
  readonly code: string | undefined;

  constructor(message: string, status: number, code: string | undefined) {
    super(message, exitCodeForHttp(status, code));
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export interface ApiClientOptions {
  readonly baseUrl: string;
  readonly token: string;
  /** Appended to 401 messages: where the token came from, so a person knows what to fix. */
  readonly tokenHint?: string;
  /** The API's base path (default the MindConnect MQTT API's; the Commanding API has its own). */
  readonly basePath?: string;
}

export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #tokenHint: string | undefined;
  readonly #basePath: string;

  constructor({ baseUrl, token, tokenHint, basePath = API_BASE_PATH }: ApiClientOptions) {
    this.baseUrl = baseUrl;
    this.#token = token;
    this.#tokenHint = tokenHint;
    this.#basePath = basePath;
  }

  /** The same server and token, another API of it (e.g. /api/commanding/v3). */
  at(basePath: string): ApiClient {
    return new ApiClient({ baseUrl: this.baseUrl, token: this.#token, tokenHint: this.#tokenHint, basePath });
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  async delete(path: string): Promise<void> {
    await this.request<undefined>('DELETE', path);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}${this.#basePath}${path}`;
    const { response, text } = await fetchOrExplain(this.baseUrl, url, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw this.#failure(method, url, response.status, text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new CliError(`${method} ${url} answered HTTP ${response.status} with a body that is not JSON; is this a trustgate server?`, EXIT.unavailable, { cause });
    }
  }

  #failure(method: string, url: string, status: number, text: string): ApiError {
    const error = serverError(text);
    if (!error) {
      const hint = status === 404 ? '; is this a trustgate server?' : '';
      return new ApiError(`${method} ${url} answered HTTP ${status}${hint}`, status, undefined);
    }
    const hint = status === 401 && this.#tokenHint ? `; ${this.#tokenHint}` : '';
    return new ApiError(`${inCliTerms(error.message)}${error.code ? ` (${error.code})` : ''}${hint}`, status, error.code);
  }
}
