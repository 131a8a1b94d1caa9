// Building the page from elements, never from markup strings: every text from the API (names, messages) goes in as a
// text node, so nothing an API client stored can become markup or script here.

/** h('button', { class: 'primary', onclick }, 'Save') → an element. Attributes starting with "on" become listeners. */
export const h = (tag, attributes = {}, ...contents) => {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, ...contents);
  return element;
};

// Bidirectional controls (LRE…RLO, LRI…PDI, LRM, RLM, ALM) in a name could make "evil\u202Egnp.exe"
// read as "evilexe.png": the page shows each one as a visible marker instead of obeying it.
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
export const showBidiControls = (text) => text.replace(BIDI_CONTROLS, (c) => `⟨U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);

export const append = (element, ...contents) => {
  for (const content of contents.flat(Infinity)) {
    if (content === undefined || content === null || content === false) continue;
    element.append(content instanceof Node ? content : document.createTextNode(showBidiControls(String(content))));
  }
  return element;
};

export const replace = (element, ...contents) => {
  element.replaceChildren();
  return append(element, ...contents);
};

let counter = 0;
export const uniqueId = (prefix) => `${prefix}-${++counter}`;

/** A labelled form field with a place for its error: { wrapper, input, showError(message), clear() }. */
export const field = ({ label, name, type = 'text', multiline = false, hint, required = false, attributes = {} }) => {
  const id = uniqueId(name);
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : undefined;
  const input = multiline
    ? h('textarea', { id, name, rows: 6, spellcheck: 'false', required, 'aria-describedby': [hintId, errorId].filter(Boolean).join(' '), ...attributes })
    : h('input', { id, name, type, required, 'aria-describedby': [hintId, errorId].filter(Boolean).join(' '), ...attributes });
  const error = h('p', { class: 'field-error', id: errorId, role: 'alert', hidden: true });
  const wrapper = h('div', { class: 'field' }, h('label', { for: id }, label), hint ? h('p', { class: 'hint', id: hintId }, hint) : null, input, error);
  return {
    wrapper, input,
    showError(message) {
      replace(error, message);
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
    },
    clear() {
      replace(error);
      error.hidden = true;
      input.removeAttribute('aria-invalid');
    },
  };
};

/** A modal confirmation (<dialog>): resolves true when the operator confirms. Escape or Cancel → false. */
export const confirmAction = (message, confirmLabel = 'Confirm', detail) => new Promise((resolve) => {
  const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
    h('h2', { id: 'confirm-title' }, message),
    detail ? h('p', {}, detail) : null,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', value: 'cancel', onclick: () => dialog.close('cancel') }, 'Cancel'),
      h('button', { type: 'button', class: 'danger', value: 'confirm', onclick: () => dialog.close('confirm') }, confirmLabel)));
  dialog.addEventListener('close', () => {
    dialog.remove();
    resolve(dialog.returnValue === 'confirm');
  });
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector('button.danger')?.focus();
});

/** Makes `target` accept a dropped file: calls onText(text, file). */
export const acceptDrop = (target, onText) => {
  target.addEventListener('dragover', (event) => {
    event.preventDefault();
    target.classList.add('dragging');
  });
  target.addEventListener('dragleave', () => target.classList.remove('dragging'));
  target.addEventListener('drop', async (event) => {
    event.preventDefault();
    target.classList.remove('dragging');
    const file = event.dataTransfer?.files?.[0];
    if (file) onText(await file.text(), file);
  });
};

/** A download of `text` as a file, through a Blob URL that is revoked right after. */
export const download = (filename, text, type = 'application/x-pem-file') => {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1_000);
};

const DAY = 86_400_000;

/** "2027-01-13 00:00 UTC", with "(expires in 12 days)" or "(expired)" and a class when within 30 days. */
export const expiryCell = (iso, now = Date.now()) => {
  if (!iso) return h('td', {}, '—');
  const at = new Date(iso);
  const text = `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
  const left = at.getTime() - now;
  if (left <= 0) return h('td', { class: 'expired' }, text, ' ', h('strong', {}, '(expired)'));
  if (left <= 30 * DAY) return h('td', { class: 'expiring' }, text, ' ', h('strong', {}, `(expires in ${Math.ceil(left / DAY)} day${Math.ceil(left / DAY) === 1 ? '' : 's'})`));
  return h('td', {}, text);
};

export const formatTime = (iso) => iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : '—';
