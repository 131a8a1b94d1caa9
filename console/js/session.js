// The sign-in: a Bearer token, pasted once or handed over in the URL fragment (#token=…, which
// browsers never send to a server), kept in this tab's sessionStorage only. No cookie: a request
// the page does not make itself carries no credential, so there is nothing to forge (CSRF).

const KEY = 'trustgate.token';

const base64UrlJson = (part) => JSON.parse(new TextDecoder().decode(
  Uint8Array.from(atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=')), (c) => c.charCodeAt(0))));

/** The claims the page shows (tenant, expiry, scopes); the server verifies the token, this only reads it. */
export const readClaims = (token) => {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('This is not a JWT (three parts separated by dots).');
  let claims;
  try {
    claims = base64UrlJson(parts[1]);
  } catch {
    throw new Error('This is not a JWT: its middle part is not base64url JSON.');
  }
  const scopes = Array.isArray(claims.scope) ? claims.scope : typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  return { tenant: typeof claims.ten === 'string' ? claims.ten : undefined, expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined, scopes };
};

/**
 * Takes a token from the address (#token=…) into sessionStorage and removes it from the address
 * bar and the history entry at once, so it is not bookmarked, shared or left in the history.
 */
export const takeTokenFromUrl = (location, history, storage) => {
  const match = /^#token=([A-Za-z0-9._~+/=-]+)/.exec(location.hash);
  if (!match) return false;
  storage.setItem(KEY, decodeURIComponent(match[1]));
  history.replaceState(null, '', `${location.pathname}${location.search}#/ca-certificates`);
  return true;
};

/**
 * The one-time code of the link `trustgate serve` prints with the local dev issuer (#signin=…),
 * taken out of the address bar and its history entry at once, like a token.
 */
export const takeSignInCodeFromUrl = (location, history) => {
  const match = /^#signin=([A-Za-z0-9_-]{1,128})$/.exec(location.hash);
  if (!match) return undefined;
  history.replaceState(null, '', `${location.pathname}${location.search}#/ca-certificates`);
  return match[1];
};

/** Trades the sign-in link's code for a token (POST /console/sign-in, this machine only, once). */
export const redeemSignInCode = async (code, fetchImpl = (...args) => fetch(...args)) => {
  let response;
  try {
    response = await fetchImpl('/console/sign-in', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }), cache: 'no-store' });
  } catch {
    throw new Error('The server cannot be reached. Is trustgate running?');
  }
  const answer = await response.json().catch(() => undefined);
  if (!response.ok || typeof answer?.token !== 'string') {
    const first = answer?.errors?.[0];
    throw new Error(first ? `${first.message} (${first.code})` : `The server answered ${response.status}: this server prints no sign-in link (an identity provider signs you in).`);
  }
  return answer.token;
};

export const getToken = (storage) => storage.getItem(KEY) ?? undefined;
export const setToken = (storage, token) => storage.setItem(KEY, token);
export const signOut = (storage) => storage.removeItem(KEY);
