// Agent certificates from the tenant's managed CA: issue (the key is shown once), download, revoke.
import { h, replace, field, confirmAction, download, expiryCell, formatTime } from '../dom.js';
import { showApiError } from '../api.js';

export const renderAgentCertificates = async ({ root, api, signal }) => {
  const list = h('div', { class: 'table-wrap' }, h('p', {}, 'Loading…'));
  const issued = h('div', {});
  const name = field({ label: 'Agent name', name: 'agent-name', hint: '1–64 of A–Z a–z 0–9 . _ -, starting with a letter or digit: the certificate\'s CN; the client id is <tenant>_<name>.', attributes: { autocomplete: 'off', maxlength: 64 } });
  const owner = field({ label: 'Owner (optional)', name: 'agent-owner', hint: 'Who is responsible for the agent.', attributes: { autocomplete: 'off', maxlength: 256 } });

  const refresh = async () => {
    try {
      const certificates = await api.get('/agentCertificates', { signal });
      replace(list, certificates.length === 0 ? h('p', { class: 'empty' }, 'No agent certificate issued yet.')
        : h('table', { class: 'data', 'aria-label': 'Agent certificates' },
          h('thead', {}, h('tr', {}, ['Name', 'Client id', 'Status', 'Expires', 'Serial number', 'Issued', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, certificates.map((c) => h('tr', { 'data-id': c.id },
            h('td', {}, c.name), h('td', { class: 'mono' }, c.clientId),
            h('td', {}, h('span', { class: `badge ${c.status === 'READY' ? 'ok' : 'off'}` }, c.status === 'READY' ? 'Ready' : 'Revoked')),
            expiryCell(c.expiration), h('td', { class: 'mono' }, c.serialNumber), h('td', {}, formatTime(c.createdAt)),
            h('td', { class: 'actions' },
              h('button', { type: 'button', onclick: () => download(`${c.name}.pem`, c.publicKey) }, 'Certificate'),
              c.status === 'READY' ? h('button', {
                type: 'button', class: 'danger',
                onclick: async () => {
                  if (!await confirmAction(`Revoke the certificate of ${c.name}?`, 'Revoke', 'The broker refuses it from now on and closes sessions using it. This cannot be undone.')) return;
                  await api.delete(`/agentCertificates/${c.id}`).catch((error) => replace(issued, h('p', { class: 'error', role: 'alert' }, error.message)));
                  refresh();
                },
              }, 'Revoke') : null))))));
    } catch (error) {
      if (!signal.aborted) replace(list, h('p', { class: 'error', role: 'alert' }, error.message));
    }
  };

  const form = h('form', {
    class: 'card', 'aria-labelledby': 'issue-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      name.clear();
      owner.clear();
      try {
        const created = await api.post('/agentCertificates', { name: name.input.value, ...(owner.input.value ? { owner: owner.input.value } : {}) });
        form.reset();
        showIssued(issued, api, created);
        refresh();
      } catch (error) {
        showApiError(error, [
          [owner, (code, message) => /\bowner\b/i.test(message)],
          [name, () => true],
        ], () => undefined);
      }
    },
  }, h('h2', { id: 'issue-title' }, 'Issue an agent certificate'),
  h('p', {}, 'From your tenant\'s managed CA, with a fresh EC P-256 key. The key is shown once: download it now.'),
  name.wrapper, owner.wrapper, h('button', { type: 'submit', class: 'primary' }, 'Issue'));

  replace(root, h('h1', { tabindex: -1 }, 'Agent certificates'), form, issued, list);
  await refresh();
};

const showIssued = (target, api, created) => {
  const chain = `${created.publicKey.trimEnd()}\n${created.caCertificate}`;
  const brokerError = h('p', { class: 'error', role: 'alert', hidden: true });
  const keyBox = h('textarea', { id: 'issued-key', readonly: true, rows: 6, spellcheck: 'false', 'aria-describedby': 'issued-key-hint' });
  keyBox.value = created.privateKey ?? '';
  const forget = () => {
    keyBox.value = '';
    replace(target);
  };
  replace(target, h('section', { class: 'card once', 'aria-labelledby': 'issued-title' },
    h('h2', { id: 'issued-title', tabindex: -1 }, `Issued: ${created.name}`),
    h('p', {}, 'Client id: ', h('code', {}, created.clientId)),
    h('label', { for: 'issued-key' }, 'Private key (PKCS#8) — shown only now, trustgate keeps no copy'),
    h('p', { class: 'hint', id: 'issued-key-hint' }, 'Download it and keep it secret; it is gone when you leave this page.'),
    keyBox,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: () => download(`${created.name}.key`, created.privateKey ?? '') }, 'Download key'),
      h('button', { type: 'button', onclick: () => download(`${created.name}.pem`, created.publicKey) }, 'Download certificate'),
      h('button', { type: 'button', onclick: () => download(`${created.name}-chain.pem`, chain) }, 'Download chain'),
      h('button', {
        type: 'button',
        onclick: async () => {
          brokerError.hidden = true;
          try {
            const response = await api.raw('GET', '/broker-ca.pem');
            if (!response.ok) {
              const body = await response.json().catch(() => undefined);
              throw new Error(body?.errors?.[0]?.message ?? `The server answered ${response.status}.`);
            }
            download('trustgate-broker-ca.pem', await response.text());
          } catch (error) {
            replace(brokerError, error.message);
            brokerError.hidden = false;
          }
        },
      }, 'Download broker root CA'),
      h('button', { type: 'button', class: 'secondary', onclick: forget }, 'I have saved the key')),
    brokerError));
  target.querySelector('h2')?.focus();
};
