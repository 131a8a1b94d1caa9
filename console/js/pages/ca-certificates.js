// CA certificates: list, upload (file, drop or paste), delete, and the proof of possession made
// in this browser with the CA's key file — the key is read here, imported non-extractable into
// WebCrypto, and never sent, logged or stored.
import { h, replace, field, confirmAction, acceptDrop, download, expiryCell, formatTime } from '../dom.js';
import { createCaCertificate, checkCommonName } from '../ca-certificate.js';
import { showApiError } from '../api.js';
import { parseCertificatePem } from '../certificate.js';
import { KeyFileError, importSigningKey, readPrivateKeyPem } from '../private-key.js';
import { buildVerificationCertificate, keyMatchesCertificate } from '../verification-certificate.js';
import { renderRevocations } from './revocations.js';

export const renderCaCertificates = async ({ root, api, signal }) => {
  const list = h('div', { class: 'table-wrap' }, h('p', {}, 'Loading…'));
  const detail = h('div', { class: 'detail' });
  const upload = uploadForm({ api, onUploaded: (ca) => { refresh(); openVerify(ca); } });
  replace(root,
    h('h1', { tabindex: -1 }, 'CA certificates'),
    h('p', { class: 'lead' }, 'Upload your CA certificate, then prove you hold its key: the proof is made in this browser; the key never leaves it.'),
    list, createForm({ onCreated: (ca) => upload.fill(ca.commonName, ca.certificatePem) }), upload.form, detail);

  const openVerify = (ca) => {
    replace(detail, verifyPanel({ api, ca, onVerified: refresh }));
    detail.querySelector('h2')?.focus();
  };
  const openRevocations = (ca) => {
    renderRevocations({ root: detail, api, ca });
    detail.querySelector('h2')?.focus();
  };

  const refresh = async () => {
    let cas;
    let agents = [];
    try {
      [cas, agents] = await Promise.all([api.get('/caCertificates', { signal }), api.get('/agents', { signal }).catch(() => [])]);
    } catch (error) {
      if (signal.aborted) return;
      replace(list, h('p', { class: 'error', role: 'alert' }, error.message));
      return;
    }
    const counts = new Map();
    for (const agent of agents) counts.set(agent.caCertificateId, (counts.get(agent.caCertificateId) ?? 0) + 1);
    if (cas.length === 0) {
      replace(list, h('p', { class: 'empty' }, 'No CA certificate yet: upload one below.'));
      return;
    }
    replace(list, h('table', { class: 'data', 'aria-label': 'CA certificates' },
      h('thead', {}, h('tr', {}, ['Name', 'Common name', 'Expires', 'Verified', 'Agents', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, cas.map((ca) => h('tr', { 'data-id': ca.id },
        h('td', {}, ca.name),
        h('td', {}, ca.commonName ?? '—'),
        expiryCell(ca.expiration),
        h('td', {}, ca.isVerified
          ? h('span', { class: 'badge ok', title: `verified ${formatTime(ca.verifiedAt)}` }, 'Verified')
          : h('span', { class: 'badge warn' }, 'Not verified')),
        h('td', { class: 'number' }, String(counts.get(ca.id) ?? 0)),
        h('td', { class: 'actions' },
          ca.isVerified ? null : h('button', { type: 'button', class: 'primary', onclick: () => openVerify(ca) }, 'Verify'),
          h('button', { type: 'button', onclick: () => openRevocations(ca) }, 'Revocations'),
          h('button', {
            type: 'button', class: 'danger',
            onclick: async () => {
              const agentCount = counts.get(ca.id) ?? 0;
              if (!await confirmAction(`Delete the CA certificate "${ca.name}"?`, 'Delete',
                `${agentCount} agent${agentCount === 1 ? '' : 's'} use it; they can no longer connect, and live sessions are closed.`)) return;
              try {
                await api.delete(`/caCertificates/${ca.id}`);
                replace(detail);
              } catch (error) {
                replace(detail, h('p', { class: 'error', role: 'alert' }, error.message));
              }
              refresh();
            },
          }, 'Delete')))))));
  };
  await refresh();
};

const uploadForm = ({ api, onUploaded }) => {
  const name = field({ label: 'Name', name: 'ca-name', hint: '1–128 characters, e.g. "Acme production CA".', attributes: { maxlength: 128, autocomplete: 'off' } });
  const certificate = field({
    label: 'CA certificate (PEM)', name: 'ca-certificate', multiline: true,
    hint: 'Paste it, drop the file here, or pick it below.', attributes: { placeholder: '-----BEGIN CERTIFICATE-----' },
  });
  const file = h('input', { type: 'file', id: 'ca-certificate-file', accept: '.pem,.crt,.cer,.txt' });
  const formError = h('p', { class: 'error', role: 'alert', hidden: true });
  const fillFrom = (text, picked) => {
    certificate.input.value = text;
    if (!name.input.value && picked?.name) name.input.value = picked.name.replace(/\.(pem|crt|cer|txt)$/i, '');
  };
  file.addEventListener('change', async () => {
    if (file.files?.[0]) fillFrom(await file.files[0].text(), file.files[0]);
  });
  acceptDrop(certificate.input, fillFrom);
  const form = h('form', {
    class: 'card', 'aria-labelledby': 'upload-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      name.clear();
      certificate.clear();
      formError.hidden = true;
      try {
        const ca = await api.post('/caCertificates', { name: name.input.value, caCertificate: certificate.input.value });
        form.reset();
        onUploaded(ca);
      } catch (error) {
        // A rule about the certificate goes next to it; the tenant's limit of CAs is the form's.
        showApiError(error, [
          [name, (code, message) => code === 'request.invalid' && /\bname\b/i.test(message)],
          [certificate, (code) => /^(pem|certificate|caCertificate|request)\./.test(code) && code !== 'caCertificate.limitReached'],
        ], (message) => {
          replace(formError, message);
          formError.hidden = false;
        });
      }
    },
  },
  h('h2', { id: 'upload-title' }, 'Upload a CA certificate'),
  name.wrapper, certificate.wrapper,
  h('div', { class: 'field' }, h('label', { for: 'ca-certificate-file' }, 'or pick the certificate file'), file),
  formError,
  h('button', { type: 'submit', class: 'primary' }, 'Upload'));
  return {
    form,
    /** Fills the form with a CA made in this browser; the operator still presses Upload. */
    fill(caName, pem) {
      name.input.value = caName;
      certificate.input.value = pem;
    },
  };
};

// No CA yet and no OpenSSL: one made here. Its key is offered once as a download and then dropped.
const createForm = ({ onCreated }) => {
  const name = field({ label: 'CA name (common name)', name: 'new-ca-name', hint: '1–64 characters, e.g. "Acme devices CA". An EC P-256 key and a 10-year self-signed CA certificate are made in this browser.', attributes: { maxlength: 64, autocomplete: 'off' } });
  const created = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    class: 'card', 'aria-labelledby': 'create-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      name.clear();
      replace(created);
      const problem = checkCommonName(name.input.value);
      if (problem) {
        name.showError(problem);
        name.input.focus();
        return;
      }
      const subtle = globalThis.crypto?.subtle;
      if (!subtle) return name.showError('This page is not in a secure context (https or localhost), so the browser offers no WebCrypto. Use npx trustgate ca create instead.');
      let ca;
      try {
        ca = await createCaCertificate({ subtle, random: (array) => crypto.getRandomValues(array), commonName: name.input.value });
      } catch (error) {
        return name.showError(`The browser could not make the CA: ${error.message}`);
      }
      // The key lives in this closure until it is downloaded or forgotten; it is never shown or sent.
      let keyPem = ca.keyPem;
      const fileBase = ca.commonName.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'ca';
      const keyState = h('p', { class: 'hint', id: 'new-ca-key-state' }, 'The private key is in this tab only: download it now. It is not kept anywhere else and cannot be shown again.');
      const forget = () => {
        keyPem = undefined;
        downloadKey.remove();
      };
      const downloadKey = h('button', {
        type: 'button', class: 'primary', id: 'new-ca-download-key',
        onclick: () => {
          if (keyPem === undefined) return;
          download(`${fileBase}.key`, keyPem);
          forget();
          replace(keyState, `Saved as ${fileBase}.key (your browser's downloads). Keep it secret: whoever holds it can make agents your CA vouches for. The page has dropped its copy.`);
        },
      }, `Download the key (${fileBase}.key)`);
      replace(created, h('section', { class: 'card once', 'aria-labelledby': 'new-ca-title' },
        h('h3', { id: 'new-ca-title', tabindex: -1 }, `Created: ${ca.commonName}`),
        h('p', {}, `Valid until ${ca.notAfter.toISOString().slice(0, 10)}. The certificate is filled in below: download the key, press Upload, then verify with the key file.`),
        keyState,
        h('div', { class: 'actions' },
          downloadKey,
          h('button', { type: 'button', onclick: () => download(`${fileBase}.pem`, ca.certificatePem) }, `Download the certificate (${fileBase}.pem)`),
          h('button', { type: 'button', class: 'secondary', onclick: () => { forget(); replace(created); } }, 'Discard the key'))));
      form.reset();
      onCreated(ca);
      created.querySelector('h3')?.focus();
    },
  },
  h('h2', { id: 'create-title' }, 'No CA yet? Create one in this browser'),
  h('p', {}, 'No OpenSSL needed: the key is made by your browser (WebCrypto) and saved to a file you keep; it is never sent to the server.'),
  name.wrapper,
  h('button', { type: 'submit' }, 'Create a CA'),
  created);
  return form;
};

const verifyPanel = ({ api, ca, onVerified }) => {
  const keyFile = h('input', { type: 'file', id: 'ca-key-file', accept: '.key,.pem,.txt', 'aria-describedby': 'ca-key-hint ca-key-error' });
  const keyError = h('p', { class: 'field-error', id: 'ca-key-error', role: 'alert', hidden: true });
  const steps = h('ol', { class: 'steps', 'aria-live': 'polite' });
  const result = h('div', { 'aria-live': 'polite' });
  const commands = h('div', { class: 'commands' }, h('p', {}, 'Loading the registration code…'));
  const dropZone = h('div', { class: 'drop-zone', tabindex: -1 }, 'Drop the CA key file here');
  let droppedKey;
  acceptDrop(dropZone, (text, picked) => {
    droppedKey = text;
    replace(dropZone, `Key file: ${picked.name}`);
  });
  keyFile.addEventListener('change', () => { droppedKey = undefined; replace(dropZone, 'Drop the CA key file here'); });

  const step = (text) => {
    const item = h('li', { class: 'running' }, text);
    steps.append(item);
    return {
      pass: (note) => { item.className = 'passed'; if (note) item.append(` — ${note}`); },
      fail: (note) => { item.className = 'failed'; if (note) item.append(` — ${note}`); },
    };
  };
  const fail = (message) => {
    keyError.hidden = false;
    replace(keyError, message);
    keyFile.setAttribute('aria-invalid', 'true');
  };

  const verify = async () => {
    steps.replaceChildren();
    replace(result);
    keyError.hidden = true;
    keyFile.removeAttribute('aria-invalid');
    let text = droppedKey;
    if (text === undefined) {
      const picked = keyFile.files?.[0];
      if (!picked) return fail('Pick the CA\'s private key file first.');
      text = await picked.text();
    }
    // The key's text lives only in this function; the file input is emptied at once.
    keyFile.value = '';
    droppedKey = undefined;
    replace(dropZone, 'Drop the CA key file here');
    let key;
    const reading = step('Read the key file');
    try {
      key = readPrivateKeyPem(text);
      text = undefined;
      reading.pass(`${key.format} ${key.type}${key.curve ? ` ${key.curve.name}` : key.bits ? ` ${key.bits} bits` : ''}`);
    } catch (error) {
      reading.fail();
      return fail(error instanceof KeyFileError ? error.message : `The key file cannot be read: ${error.message}`);
    }
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) return fail('This page is not in a secure context (https or localhost), so the browser offers no WebCrypto. Use the command line below.');
    let signingKey;
    const importing = step('Import it into the browser\'s WebCrypto, non-extractable');
    try {
      signingKey = await importSigningKey(subtle, key);
      key.pkcs8.fill(0);
      importing.pass();
    } catch (error) {
      importing.fail();
      return fail(`The browser refused the key: ${error.message}`);
    }
    const caCertificate = parseCertificatePem(ca.caCertificate);
    const matching = step('Check the key belongs to this CA certificate');
    const match = await keyMatchesCertificate(subtle, key, signingKey, caCertificate);
    if (!match.matches) {
      matching.fail(`compared by ${match.how}`);
      return fail(`This key does not belong to the CA certificate "${ca.name}" (${ca.subject}): nothing was sent. Pick the key this CA certificate was made with.`);
    }
    matching.pass(`same ${match.how}`);
    const coding = step('Fetch the registration code');
    let registrationCode;
    try {
      ({ registrationCode } = await api.get(`/caCertificates/${ca.id}/registrationCode`));
      coding.pass(registrationCode);
    } catch (error) {
      coding.fail();
      return fail(`${error.message} (${error.code})`);
    }
    const building = step('Build and sign the verification certificate (CN = the code, issuer = this CA)');
    let built;
    try {
      built = await buildVerificationCertificate({ subtle, random: (array) => crypto.getRandomValues(array), caCertificate, key, signingKey, registrationCode });
      building.pass();
    } catch (error) {
      building.fail();
      return fail(`Signing failed: ${error.message}`);
    }
    const posting = step('Send the verification certificate (not the key)');
    try {
      const verified = await api.post(`/caCertificates/${ca.id}/verify`, { verificationCertificate: built.pem });
      posting.pass();
      replace(result, h('p', { class: 'success', role: 'status' }, `"${verified.name}" is verified: agents whose certificates it issued can connect now.`));
      onVerified();
    } catch (error) {
      posting.fail();
      fail(`${error.message} (${error.code})`);
    }
  };

  (async () => {
    try {
      const { registrationCode } = await api.get(`/caCertificates/${ca.id}/registrationCode`);
      replace(commands, fallbackCommands(ca, registrationCode));
    } catch (error) {
      replace(commands, h('p', { class: 'error' }, error.message));
    }
  })();

  return h('section', { class: 'card', 'aria-labelledby': 'verify-title' },
    h('h2', { id: 'verify-title', tabindex: -1 }, `Verify "${ca.name}"`),
    h('p', {}, 'Pick the CA\'s private key file (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC). It is read and used in this tab only: it is imported non-extractable, never sent, logged or stored.'),
    h('div', { class: 'field' },
      h('label', { for: 'ca-key-file' }, 'CA private key file'),
      h('p', { class: 'hint', id: 'ca-key-hint' }, 'BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY; not encrypted.'),
      keyFile, dropZone, keyError),
    h('button', { type: 'button', class: 'primary', onclick: verify }, 'Verify in this browser'),
    steps, result,
    h('details', { class: 'fallback' }, h('summary', {}, 'Or verify on the command line'), commands));
};

const fallbackCommands = (ca, code) => h('div', {},
  h('p', {}, 'With the trustgate CLI (the key stays on that machine too):'),
  h('pre', {}, h('code', {}, `npx trustgate ca verify --id ${ca.id} --cert ca.pem --key ca.key`)),
  h('p', {}, 'Or upload and verify in one step (a CA not uploaded yet): ', h('code', {}, 'npx trustgate ca register --cert ca.pem --key ca.key --name "…"')),
  h('p', {}, 'With OpenSSL, as in the MindConnect how-to (ca.pem and ca.key are your CA\'s files):'),
  h('pre', {}, h('code', {}, [
    'openssl genrsa -out verificationCert.key 2048',
    `openssl req -new -key verificationCert.key -out verificationCert.csr -subj "/CN=${code}"`,
    'openssl x509 -req -in verificationCert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out verificationCert.pem -days 1 -sha256',
    `curl -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
  --data "$(jq -n --rawfile c verificationCert.pem '{verificationCertificate: $c}')" \\
  ${location.origin}/api/mindconnectmqtt/v3/caCertificates/${ca.id}/verify`,
  ].join('\n'))));
