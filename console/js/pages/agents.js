// Agents: the live table (event stream, else polling), enable/disable/delete, and the doctor.
import { h, replace, field, confirmAction, acceptDrop, expiryCell, formatTime } from '../dom.js';
import { showApiError } from '../api.js';
import { watchAgents } from '../live-agents.js';

export const renderAgents = async ({ root, api, signal }) => {
  const status = h('p', { class: 'live', role: 'status' }, 'Connecting…');
  const table = h('div', { class: 'table-wrap' }, h('p', {}, 'Loading…'));
  const actionError = h('p', { class: 'error', role: 'alert', hidden: true });
  replace(root, h('h1', { tabindex: -1 }, 'Agents'),
    h('p', { class: 'lead' }, 'Agents appear here when they first connect with a certificate from a verified CA.'),
    status, actionError, table, doctorForm({ api }));

  const agents = new Map();
  let caNames = new Map();
  const loadCaNames = async () => {
    try {
      caNames = new Map((await api.get('/caCertificates', { signal })).map((ca) => [ca.id, ca.name]));
    } catch {
      // names are a nicety: the id is shown instead
    }
  };
  await loadCaNames();

  const act = async (work) => {
    actionError.hidden = true;
    try {
      await work();
    } catch (error) {
      replace(actionError, `${error.message} (${error.code})`);
      actionError.hidden = false;
    }
  };

  const draw = () => {
    const rows = [...agents.values()].sort((a, b) => a.clientId.localeCompare(b.clientId));
    if (rows.length === 0) {
      replace(table, h('p', { class: 'empty' }, 'No agent has connected yet.'));
      return;
    }
    const focused = document.activeElement?.dataset?.focusKey;
    replace(table, h('table', { class: 'data', 'aria-label': 'Agents' },
      h('thead', {}, h('tr', {}, ['Client id', 'State', 'Last connect', 'Certificate expires', 'Issuing CA', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((agent) => h('tr', { 'data-client-id': agent.clientId },
        h('td', { class: 'mono' }, agent.clientId),
        h('td', { class: 'state' },
          h('span', { class: `badge ${agent.online ? 'ok' : 'off'}`, 'data-online': String(agent.online) }, agent.online ? 'Online' : 'Offline'),
          agent.enabled ? null : h('span', { class: 'badge warn', 'data-disabled': 'true' }, 'Disabled')),
        h('td', {}, formatTime(agent.lastConnectedAt)),
        expiryCell(agent.certificate?.notAfter),
        h('td', {}, caNames.get(agent.caCertificateId) ?? h('span', { class: 'mono', title: 'the tenant\'s managed CA or a deleted CA' }, agent.caCertificateId)),
        h('td', { class: 'actions' },
          h('button', {
            type: 'button', 'data-focus-key': `toggle-${agent.id}`,
            onclick: () => act(async () => {
              if (agent.enabled && !await confirmAction(`Disable ${agent.clientId}?`, 'Disable', 'Its session is closed now and it cannot connect until enabled again.')) return;
              const updated = await api.patch(`/agents/${agent.id}`, { enabled: !agent.enabled });
              agents.set(updated.id, updated);
              draw();
            }),
          }, agent.enabled ? 'Disable' : 'Enable'),
          h('button', {
            type: 'button', class: 'danger', 'data-focus-key': `delete-${agent.id}`,
            onclick: () => act(async () => {
              if (!await confirmAction(`Delete ${agent.clientId}?`, 'Delete', 'Its session is closed; it is onboarded again as a new agent if it reconnects with a trusted certificate.')) return;
              await api.delete(`/agents/${agent.id}`);
              agents.delete(agent.id);
              draw();
            }),
          }, 'Delete')))))));
    // A redraw must not steal the keyboard focus from the button the operator was on.
    if (focused) table.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
  };

  watchAgents({
    api, signal,
    onList: (list) => {
      const unknownCa = list.some((agent) => !caNames.has(agent.caCertificateId));
      agents.clear();
      for (const agent of list) agents.set(agent.id, agent);
      draw();
      if (unknownCa && !signal.aborted) loadCaNames().then(draw);
    },
    onAgent: (agent) => { agents.set(agent.id, agent); draw(); },
    onDeleted: (id) => { agents.delete(id); draw(); },
    onMode: (mode, detail) => {
      status.dataset.mode = mode;
      replace(status, mode === 'stream' ? 'Live: updates arrive as they happen.'
        : mode === 'polling' ? `Live: refreshed every 2 seconds (last at ${new Date().toLocaleTimeString()}).`
          : `Not live: ${detail}`);
    },
  });
};

const doctorForm = ({ api }) => {
  const certificate = field({ label: 'Agent certificate (PEM)', name: 'doctor-certificate', multiline: true, hint: 'Paste it, drop the file here or pick it below; the CA may be appended.' });
  const clientId = field({ label: 'Client id (optional)', name: 'doctor-client-id', hint: 'The MQTT client id the agent will use.', attributes: { autocomplete: 'off' } });
  const file = h('input', { type: 'file', id: 'doctor-file', accept: '.pem,.crt,.cer,.txt' });
  file.addEventListener('change', async () => { if (file.files?.[0]) certificate.input.value = await file.files[0].text(); });
  acceptDrop(certificate.input, (text) => { certificate.input.value = text; });
  const result = h('div', { 'aria-live': 'polite' });
  return h('form', {
    class: 'card', 'aria-labelledby': 'doctor-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      certificate.clear();
      clientId.clear();
      replace(result);
      try {
        const diagnosis = await api.post('/agents/doctor', { agentCertificate: certificate.input.value, ...(clientId.input.value ? { clientId: clientId.input.value } : {}) });
        replace(result,
          h('p', { class: diagnosis.wouldBeAccepted ? 'success' : 'error', role: 'status' },
            diagnosis.wouldBeAccepted ? `The broker would accept this agent${diagnosis.clientId ? ` as ${diagnosis.clientId}` : ''}.` : 'The broker would refuse this agent.'),
          h('ol', { class: 'steps' }, diagnosis.steps.map((s) => h('li', { class: s.status }, h('strong', {}, `${s.status === 'passed' ? '✓' : s.status === 'failed' ? '✗' : '–'} ${s.check}`), ` ${s.message}`))));
      } catch (error) {
        showApiError(error, [
          [clientId, (code, message) => /client ?id/i.test(message) && code === 'request.invalid'],
          [certificate, () => true],
        ], () => undefined);
      }
    },
  }, h('h2', { id: 'doctor-title' }, 'Doctor: would the broker accept this certificate?'),
  certificate.wrapper, h('div', { class: 'field' }, h('label', { for: 'doctor-file' }, 'or pick the certificate file'), file), clientId.wrapper,
  h('button', { type: 'submit', class: 'primary' }, 'Check'), result);
};
