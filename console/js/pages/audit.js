// The audit trail, with filters. A server without it (GET /auditEvents answers 404) says so.
import { h, replace, formatTime } from '../dom.js';

// The actions the trail records (src/registry/audit-trail.ts), offered as suggestions; any text is sent.
const ACTIONS = [
  'caCertificate.uploaded', 'caCertificate.verified', 'caCertificate.verificationFailed', 'caCertificate.deleted', 'crl.imported',
  'certificate.revoked', 'certificate.revocationLifted', 'agent.onboarded', 'agent.disabled', 'agent.enabled', 'agent.deleted',
  'agentCertificate.issued', 'agentCertificate.renewed', 'agentCertificate.revoked', 'session.closed', 'mqtt.connectRefused',
  'mqtt.clientBanned', 'mqtt.banLifted', 'rateLimit.exceeded',
];

export const renderAudit = async ({ root, api, signal }) => {
  const since = h('input', { id: 'audit-since', type: 'datetime-local' });
  const until = h('input', { id: 'audit-until', type: 'datetime-local' });
  const action = h('input', { id: 'audit-action', type: 'text', placeholder: 'any', autocomplete: 'off', list: 'audit-actions' });
  const actions = h('datalist', { id: 'audit-actions' }, ACTIONS.map((name) => h('option', { value: name })));
  const limit = h('input', { id: 'audit-limit', type: 'number', min: 1, max: 500, value: 50 });
  const table = h('div', { class: 'table-wrap' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  let cursor;
  let rows = [];

  const query = (next) => {
    const params = new URLSearchParams();
    if (since.value) params.set('since', new Date(since.value).toISOString());
    if (until.value) params.set('until', new Date(until.value).toISOString());
    if (action.value.trim()) params.set('action', action.value.trim());
    if (limit.value) params.set('limit', limit.value);
    if (next) params.set('cursor', next);
    return `/auditEvents?${params}`;
  };

  const load = async (next) => {
    try {
      const answer = await api.get(query(next), { signal });
      rows = next ? [...rows, ...answer.auditEvents] : answer.auditEvents;
      cursor = answer.nextCursor ?? undefined;
      more.hidden = !cursor;
      draw();
    } catch (error) {
      if (signal.aborted) return;
      more.hidden = true;
      replace(table, error.status === 404
        ? h('p', { class: 'empty', 'data-unavailable': 'true' }, 'The audit trail is not available on this server (this trustgate version has no GET /auditEvents).')
        : h('p', { class: 'error', role: 'alert' }, `${error.message} (${error.code})`));
    }
  };

  const text = (value) => value === undefined || value === null || value === '' ? '—' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  const draw = () => {
    replace(table, rows.length === 0 ? h('p', { class: 'empty' }, 'No audit event matches.')
      : h('table', { class: 'data', 'aria-label': 'Audit events' },
        h('thead', {}, h('tr', {}, ['Time', 'Action', 'Outcome', 'Actor', 'Target', 'Source', 'Request id'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows.map((event) => h('tr', {},
          h('td', {}, formatTime(event.time)),
          h('td', { class: 'mono' }, text(event.action), event.count > 1 ? ` ×${event.count}` : ''),
          h('td', {}, h('span', { class: `badge ${event.outcome === 'failure' ? 'warn' : 'ok'}` }, text(event.outcome)), event.reason ? ` ${event.reason}` : ''),
          h('td', { class: 'mono' }, event.actor && typeof event.actor === 'object' ? `${event.actor.type}:${event.actor.id}` : text(event.actor)),
          h('td', { class: 'mono' }, text(event.target)),
          h('td', { class: 'mono' }, text(event.sourceAddress)),
          h('td', { class: 'mono' }, text(event.requestId)))))));
  };

  more.addEventListener('click', () => load(cursor));
  replace(root, h('h1', { tabindex: -1 }, 'Audit trail'),
    h('form', {
      class: 'card filters', novalidate: true,
      onsubmit: (event) => { event.preventDefault(); load(); },
    },
    h('div', { class: 'field' }, h('label', { for: 'audit-since' }, 'Since'), since),
    h('div', { class: 'field' }, h('label', { for: 'audit-until' }, 'Until'), until),
    h('div', { class: 'field' }, h('label', { for: 'audit-action' }, 'Action'), action, actions),
    h('div', { class: 'field' }, h('label', { for: 'audit-limit' }, 'Limit'), limit),
    h('button', { type: 'submit', class: 'primary' }, 'Show')),
    table, more);
  await load();
};
