import { CliError, EXIT } from './cli-error.ts';

// `--subject "/C=DE/O=Acme/CN=acme CA"` as OpenSSL's `req -subj` takes it (a "\/" is a slash in a
// value), into the attribute record pki's issueCertificate takes, in the order given.

const ATTRIBUTES: Readonly<Record<string, string>> = {
  c: 'C', st: 'ST', l: 'L', o: 'O', ou: 'OU', cn: 'CN', dc: 'DC', e: 'E', emailaddress: 'E',
};
// X.520 upper bounds (RFC 5280 Appendix A); C is a two-letter ISO 3166 code.
const MAX_LENGTH: Readonly<Record<string, number>> = { C: 2, ST: 128, L: 128, O: 64, OU: 64, CN: 64, DC: 63, E: 255 };

const splitUnescaped = (text: string): string[] => {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '\\' && i + 1 < text.length) {
      current += text[++i];
    } else if (char === '/') {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
};

export const parseSubject = (text: string): Record<string, string> => {
  const bad = (why: string) => new CliError(`--subject "${text}" ${why}; write it as OpenSSL does, e.g. "/C=DE/O=Acme/CN=acme CA"`, EXIT.usage);
  if (!text.startsWith('/')) throw bad('must start with "/"');
  const subject: Record<string, string> = {};
  for (const part of splitUnescaped(text.slice(1))) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    if (equals <= 0) throw bad(`has "${part}", which is not ATTRIBUTE=value`);
    const attribute = ATTRIBUTES[part.slice(0, equals).trim().toLowerCase()];
    const value = part.slice(equals + 1).trim();
    if (attribute === undefined) throw bad(`has the unknown attribute "${part.slice(0, equals)}" (use ${[...new Set(Object.values(ATTRIBUTES))].join(', ')})`);
    if (value === '') throw bad(`has an empty ${attribute}`);
    if (attribute in subject) throw bad(`names ${attribute} twice`);
    if (value.length > MAX_LENGTH[attribute]!) throw bad(`has a ${attribute} longer than ${MAX_LENGTH[attribute]} characters`);
    if (attribute === 'C' && !/^[A-Z]{2}$/.test(value)) throw bad('has a C that is not a two-letter country code');
    subject[attribute] = value;
  }
  if (Object.keys(subject).length === 0) throw bad('names no attribute');
  return subject;
};
