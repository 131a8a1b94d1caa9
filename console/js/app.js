// The console's entry point: sign-in, the header, and a hash router over the pages.
import { h, replace, field } from './dom.js';
import { createApi } from './api.js';
import { getToken, readClaims, redeemSignInCode, setToken, signOut, takeSignInCodeFromUrl, takeTokenFromUrl } from './session.js';
import { renderCaCertificates } from './pages/ca-certificates.js';
import { renderAgents } from './pages/agents.js';
import { renderAgentCertificates } from './pages/agent-certificates.js';
import { renderAudit } from './pages/audit.js';

const PAGES = [
  { path: '#/ca-certificates', title: 'CA certificates', render: renderCaCertificates },
  { path: '#/agents', title: 'Agents', render: renderAgents },
  { path: '#/agent-certificates', title: 'Agent certificates', render: renderAgentCertificates },
  { path: '#/audit', title: 'Audit trail', render: renderAudit },
];

const storage = window.sessionStorage;
const header = document.getElementById('session');
const nav = document.getElementById('nav');
const main = document.getElementById('main');
let pageController;
let hasRendered = false;

takeTokenFromUrl(window.location, window.history, storage);

const api = createApi({
  getToken: () => getToken(storage),
  onUnauthorized: (error) => showSignIn(`The server refused the token: ${error.message}`),
});

const showSignIn = (message) => {
  pageController?.abort();
  signOut(storage);
  replace(header);
  replace(nav);
  const token = field({
    label: 'Bearer token', name: 'token', multiline: true,
    hint: 'A JWT with the scope mcmqtt.admin (or mcmqtt.read to look only). With the local dev issuer, the start log of trustgate (npm start) shows a sign-in link: open it in a browser on that machine (it works once, for an hour). npx trustgate console --tenant <tenant> prints a new one for any tenant.',
    attributes: { rows: 4, autocomplete: 'off' },
  });
  if (message) token.showError(message);
  replace(main, h('form', {
    class: 'card sign-in', 'aria-labelledby': 'sign-in-title', novalidate: true,
    onsubmit: (event) => {
      event.preventDefault();
      const value = token.input.value.trim().replace(/^Bearer\s+/i, '');
      try {
        const claims = readClaims(value);
        if (claims.expiresAt && claims.expiresAt.getTime() <= Date.now()) throw new Error(`This token expired at ${claims.expiresAt.toISOString()}.`);
        setToken(storage, value);
      } catch (error) {
        token.showError(error.message);
        token.input.focus();
        return;
      }
      start();
    },
  }, h('h1', { id: 'sign-in-title' }, 'Sign in to trustgate'),
  h('p', {}, 'The token stays in this tab (session storage) and is sent only to this server, as an Authorization header. No cookie is set.'),
  token.wrapper, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  token.input.focus();
};

const drawSession = (claims) => {
  const expiry = claims.expiresAt ? `expires ${claims.expiresAt.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'no expiry';
  replace(header,
    h('span', { class: 'tenant' }, 'Tenant ', h('strong', { id: 'tenant' }, claims.tenant ?? '?')),
    h('span', { class: 'expiry', id: 'token-expiry' }, expiry),
    h('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: () => { signOut(storage); showSignIn(); } }, 'Sign out'));
  replace(nav, h('ul', {}, PAGES.map((page) => h('li', {}, h('a', { href: page.path, 'data-page': page.path }, page.title)))));
};

const route = async () => {
  const token = getToken(storage);
  if (!token) return showSignIn();
  const page = PAGES.find((p) => p.path === window.location.hash) ?? PAGES[0];
  if (window.location.hash !== page.path) {
    window.history.replaceState(null, '', page.path);
  }
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.page === page.path) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${page.title} · trustgate`;
  pageController?.abort();
  pageController = new AbortController();
  await page.render({ root: main, api, signal: pageController.signal });
  // After a page change the focus goes to its heading (a screen reader announces it); on the
  // first load it stays at the top, where Tab reaches the skip link first.
  if (hasRendered) main.querySelector('h1')?.focus({ preventScroll: true });
  hasRendered = true;
};

const start = () => {
  const token = getToken(storage);
  if (!token) return showSignIn();
  let claims;
  try {
    claims = readClaims(token);
  } catch (error) {
    return showSignIn(error.message);
  }
  if (claims.expiresAt && claims.expiresAt.getTime() <= Date.now()) return showSignIn('Your token has expired: paste a new one.');
  drawSession(claims);
  route();
};

// The start log's link: its code is traded for a token, once; a failure shows why on the sign-in.
const signInWithCode = async (code) => {
  replace(main, h('p', { role: 'status' }, 'Signing in…'));
  try {
    setToken(storage, await redeemSignInCode(code));
  } catch (error) {
    return showSignIn(error.message);
  }
  return start();
};

// Only page links route: the skip link (#main) just moves the focus.
// A sign-in link opened in a tab that already shows the console changes only the fragment.
window.addEventListener('hashchange', () => {
  const code = takeSignInCodeFromUrl(window.location, window.history);
  if (code) signInWithCode(code);
  else if (takeTokenFromUrl(window.location, window.history, storage)) start();
  else if (window.location.hash.startsWith('#/') && getToken(storage)) route();
});
const code = takeSignInCodeFromUrl(window.location, window.history);
if (code) signInWithCode(code);
else start();
