// Revocations of one uploaded CA (by serial number) and its CRL.
import { h, replace, field, confirmAction, acceptDrop, formatTime } from '../dom.js';
import { showApiError } from '../api.js';

const REASONS = ['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn'];

export const renderRevocations = ({ root, api, ca }) => {
  const list = h('div', { class: 'table-wrap' }, h('p', {}, 'Loading…'));
  const crlState = h('div', {}, h('p', {}, 'Loading…'));
  const serial = field({ label: 'Serial number', name: 'revoke-serial', hint: 'Hex as OpenSSL prints it (openssl x509 -noout -serial), with or without colons.', attributes: { autocomplete: 'off' } });
  const reasonId = 'revoke-reason';
  const reason = h('select', { id: reasonId, name: 'reason' }, REASONS.map((r) => h('option', { value: r }, r)));
  const crl = field({ label: 'CRL (PEM)', name: 'crl', multiline: true, hint: 'BEGIN X509 CRL, signed by this CA (e.g. openssl ca -gencrl). Paste or drop it; it replaces the previous one.' });
  acceptDrop(crl.input, (text) => { crl.input.value = text; });

  const refresh = async () => {
    try {
      const revoked = await api.get(`/caCertificates/${ca.id}/revokedCertificates`);
      replace(list, revoked.length === 0 ? h('p', { class: 'empty' }, 'No certificate of this CA is revoked through the API.')
        : h('table', { class: 'data', 'aria-label': 'Revoked certificates' },
          h('thead', {}, h('tr', {}, ['Serial number', 'Reason', 'Revoked', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, revoked.map((entry) => h('tr', {},
            h('td', { class: 'mono' }, entry.serialNumber), h('td', {}, entry.reason), h('td', {}, formatTime(entry.revokedAt)),
            h('td', { class: 'actions' }, entry.reason === 'certificateHold' ? h('button', {
              type: 'button',
              onclick: async () => {
                if (!await confirmAction(`Release the hold on ${entry.serialNumber}?`, 'Release', 'The certificate is trusted again.')) return;
                await api.delete(`/caCertificates/${ca.id}/revokedCertificates/${entry.serialNumber}`).catch((error) => replace(list, h('p', { class: 'error', role: 'alert' }, error.message)));
                refresh();
              },
            }, 'Release hold') : null))))));
    } catch (error) {
      replace(list, h('p', { class: 'error', role: 'alert' }, `${error.message}`));
    }
    try {
      const state = await api.get(`/caCertificates/${ca.id}/crl`);
      replace(crlState, h('dl', { class: 'facts' },
        h('dt', {}, 'This update'), h('dd', {}, formatTime(state.thisUpdate)),
        h('dt', {}, 'Next update'), h('dd', { class: state.stale ? 'expired' : '' }, formatTime(state.nextUpdate), state.stale ? ' (stale: publish a newer CRL)' : ''),
        h('dt', {}, 'CRL number'), h('dd', { class: 'mono' }, state.crlNumber ?? '—'),
        h('dt', {}, 'Entries'), h('dd', {}, String(state.entryCount)),
        h('dt', {}, 'Imported'), h('dd', {}, formatTime(state.importedAt))));
    } catch (error) {
      replace(crlState, h('p', { class: error.status === 404 ? 'empty' : 'error' }, error.status === 404 ? 'No CRL imported for this CA.' : error.message));
    }
  };

  replace(root, h('section', { class: 'card', 'aria-labelledby': 'revocations-title' },
    h('h2', { id: 'revocations-title', tabindex: -1 }, `Revocations of "${ca.name}"`),
    list,
    h('form', {
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        serial.clear();
        try {
          await api.post(`/caCertificates/${ca.id}/revokedCertificates`, { serialNumber: serial.input.value.trim(), reason: reason.value });
          serial.input.value = '';
          refresh();
        } catch (error) {
          showApiError(error, [[serial, () => true]], () => undefined);
        }
      },
    }, h('h3', {}, 'Revoke a certificate this CA issued'), serial.wrapper,
    h('div', { class: 'field' }, h('label', { for: reasonId }, 'Reason'), reason),
    h('button', { type: 'submit', class: 'danger' }, 'Revoke')),
    h('h3', {}, 'Certificate revocation list'), crlState,
    h('form', {
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        crl.clear();
        try {
          await api.put(`/caCertificates/${ca.id}/crl`, { crl: crl.input.value });
          crl.input.value = '';
          refresh();
        } catch (error) {
          showApiError(error, [[crl, () => true]], () => undefined);
        }
      },
    }, crl.wrapper, h('button', { type: 'submit' }, 'Import CRL'))));
  refresh();
};
