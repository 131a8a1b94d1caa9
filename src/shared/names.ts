// The rules for the names people give things, in one place, so that every door (the REST API, the
// CLI issuing locally with a CA key) applies the same ones (issue 13, items 5 and 6).
//
// An agent name is an identifier: it becomes the certificate's CN, one level of the client id
// `<tenant>_<name>` and of topics `tc/<tenant>/<clientId>/...`, and the CLI's file names
// `<name>.key`, `<name>.pem`. So it is 1-64 (RFC 5280 ub-common-name) ASCII letters, digits, ".", "_"
// and "-", starting with a letter or digit. That refuses what could change a topic's structure
// ("/", "+", "#"), control characters and NUL, spaces (`-i $(cat pump 1.clientid)` splits in a
// shell, and topics with spaces trip ACL files and scripts), a leading "-" or "." (read as an
// option or a hidden/relative path), and non-ASCII: Unicode has several encodings of one visible
// name (NFC/NFD, look-alike letters), so two agents could look alike in lists and logs while
// their client ids differ, and file systems normalise such names differently. Nothing is trimmed:
// an identifier is taken as sent, or refused.
//
// A display name (a CA certificate's name, an agent certificate's owner) is free text: surrounding
// whitespace is trimmed, and one that is empty after trimming is refused.

export const MAX_AGENT_NAME_LENGTH = 64;
export const AGENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The rule in words, for messages and docs. */
export const AGENT_NAME_RULE = '1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. "pump-1")';

const ALLOWED = /[A-Za-z0-9._-]/;

const describeCharacter = (character: string): string => {
  const codePoint = character.codePointAt(0)!;
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  if (character === ' ') return 'a space';
  if (codePoint < 0x20 || (codePoint >= 0x7f && codePoint <= 0x9f)) return `the control character ${hex}`;
  if (/\s/u.test(character)) return `the white space ${hex}`;
  if (codePoint > 0x7e) return `the non-ASCII character ${hex} ${showName(character)}`;
  return `"${character}"`;
};

/** Undefined when `name` is a valid agent name; else what is wrong with it, in a few words. */
export const agentNameProblem = (name: string): string | undefined => {
  if (AGENT_NAME_PATTERN.test(name)) return undefined;
  if (name.length === 0) return 'it is empty';
  for (const character of name) {
    if (!ALLOWED.test(character)) return `it holds ${describeCharacter(character)}`;
  }
  if (!/^[A-Za-z0-9]/.test(name)) return `it starts with "${name[0]}"`;
  return `it has ${name.length} characters, more than ${MAX_AGENT_NAME_LENGTH}`;
};

// What JSON.stringify leaves as is but a terminal or log viewer would act on or hide: DEL, C1
// controls (0x9b is a CSI), soft hyphen, zero-width and bidirectional formatting characters.
const INVISIBLE = /[\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/** A name as messages show it: quoted, every invisible or control character escaped, cut when long. */
export const showName = (name: string): string => {
  const quote = (text: string) => JSON.stringify(text).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return name.length > 80 ? `${quote(name.slice(0, 80))}… (${name.length} characters)` : quote(name);
};

/** Surrounding whitespace removed; undefined when nothing else is left. */
export const trimDisplayName = (value: string): string | undefined => {
  const trimmed = value.trim();
  return trimmed.length > 0 ? trimmed : undefined;
};
