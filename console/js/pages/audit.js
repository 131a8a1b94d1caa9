// The audit trail, with filters. A server without it (GET /auditEvents answers 404) says so.
import { h, replace, formatTime } from '../dom.js';

export const renderAudit = async ({ root, api, signal }) => {
  const since = h('input', { id: 'audit-since', type: 'datetime-local' });
  const until = h('input', { id: 'audit-until', type: 'datetime-local' });
  const action = h('input', { id: 'audit-action', type: 'text', placeholder: 'e.g. caCertificate.verified', autocomplete: 'off' });
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

  const cell = (value) => h('td', {}, value === undefined || value === null ? '—' : typeof value === 'object' ? JSON.stringify(value) : String(value));
  const draw = () => {
    replace(table, rows.length === 0 ? h('p', { class: 'empty' }, 'No audit event matches.')
      : h('table', { class: 'data', 'aria-label': 'Audit events' },
        h('thead', {}, h('tr', {}, ['Time', 'Action', 'Actor', 'Target', 'Details'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows.map((event) => {
          const { at, time, timestamp, action: name, actor, subject, target, resource, ...rest } = event;
          return h('tr', {}, h('td', {}, formatTime(at ?? time ?? timestamp)), cell(name), cell(actor ?? subject), cell(target ?? resource), cell(rest));
        }))));
  };

  more.addEventListener('click', () => load(cursor));
  replace(root, h('h1', { tabindex: -1 }, 'Audit trail'),
    h('form', {
      class: 'card filters', novalidate: true,
      onsubmit: (event) => { event.preventDefault(); load(); },
    },
    h('div', { class: 'field' }, h('label', { for: 'audit-since' }, 'Since'), since),
    h('div', { class: 'field' }, h('label', { for: 'audit-until' }, 'Until'), until),
    h('div', { class: 'field' }, h('label', { for: 'audit-action' }, 'Action'), action),
    h('div', { class: 'field' }, h('label', { for: 'audit-limit' }, 'Limit'), limit),
    h('button', { type: 'submit', class: 'primary' }, 'Show')),
    table, more);
  await load();
};
