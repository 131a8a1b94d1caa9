// The API client of the console: every call carries the tab's Bearer token; an error answer
// becomes an ApiError with the API's own code and message, which the page shows next to the
// field it concerns.

export const API_BASE = '/api/mindconnectmqtt/v3';

export class ApiError extends Error {
  constructor(status, code, message, logref) {
    super(message);
    this.status = status;
    this.code = code;
    this.logref = logref;
  }
}

export const createApi = ({ getToken, onUnauthorized, fetchImpl = (...args) => fetch(...args) }) => {
  const request = async (method, path, body, { raw = false, signal } = {}) => {
    const headers = { authorization: `Bearer ${getToken()}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      // /broker-ca.pem and /broker.json live at the server root, outside the API's base path.
      response = await fetchImpl(path.startsWith('/broker') ? path : `${API_BASE}${path}`,
        { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
    } catch (error) {
      if (error?.name === 'AbortError') throw error;
      throw new ApiError(0, 'network', 'The server cannot be reached. Is trustgate running?');
    }
    if (raw) return response;
    const text = await response.text();
    let answer;
    try {
      answer = text === '' ? undefined : JSON.parse(text);
    } catch {
      answer = undefined;
    }
    if (response.ok) return answer;
    const first = answer?.errors?.[0];
    const error = new ApiError(response.status, first?.code ?? `http.${response.status}`, first?.message ?? `The server answered ${response.status}.`, first?.logref);
    if (response.status === 401) onUnauthorized?.(error);
    throw error;
  };
  return {
    get: (path, options) => request('GET', path, undefined, options),
    post: (path, body, options) => request('POST', path, body, options),
    put: (path, body, options) => request('PUT', path, body, options),
    patch: (path, body, options) => request('PATCH', path, body, options),
    delete: (path, options) => request('DELETE', path, undefined, options),
    raw: (method, path, options) => request(method, path, undefined, { ...options, raw: true }),
    token: getToken,
  };
};

/**
 * Shows an API error next to the field it concerns: `fields` maps a field to a test on the error
 * code (and message); the first match gets it, else `fallback` (a form-level message).
 */
export const showApiError = (error, fields, fallback) => {
  const message = error instanceof ApiError ? `${error.message} (${error.code})` : error.message;
  for (const [field, matches] of fields) {
    if (matches(error.code ?? '', error.message ?? '')) {
      field.showError(message);
      field.input.focus();
      return;
    }
  }
  fallback(message);
};
