import { KEY_TYPES, type KeyType } from '../pki/index.ts';
import { isTenantId } from '../shared/index.ts';
import { CliError, EXIT } from './cli-error.ts';

// Option values checked before anything is read, written or sent: a typo is a usage error (64)
// that names the option and what it accepts.

export const parseTenant = (value: string): string => {
  if (!isTenantId(value)) {
    throw new CliError(`--tenant "${value}" is not a tenant name: use 1-63 lowercase letters, digits and "-", starting with a letter or digit`, EXIT.usage);
  }
  return value;
};

export const parseKeyType = (value: string): KeyType => {
  const type = value.toLowerCase().replace(/[-_]/g, '') as KeyType;
  if (!KEY_TYPES.includes(type)) throw new CliError(`--key-type "${value}" is not one of ${KEY_TYPES.join(', ')}`, EXIT.usage);
  return type;
};

export const parseWholeNumber = (option: string, value: string, min: number, max: number): number => {
  const number = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new CliError(`${option} "${value}" is not a whole number from ${min} to ${max}`, EXIT.usage);
  }
  return number;
};

export const parseDays = (value: string): number => parseWholeNumber('--days', value, 1, 36_500);

// The broker's rule for an agent's CN (1-64 characters, no MQTT wildcard or level separator: it
// becomes part of the client id and topics), plus what a file name needs: no backslash, no
// control characters, not "." or "..".
export const checkAgentName = (option: string, name: string): string => {
  const problem = name.length === 0 || name.length > 64 ? 'must be 1-64 characters'
    : /[/+#\\]/.test(name) ? 'must not hold "/", "+", "#" or "\\" (it becomes part of MQTT topics and file names)'
      : /[\u0000-\u001f\u007f]/.test(name) ? 'must not hold control characters'
        : name === '.' || name === '..' || name.startsWith('-') ? 'must not be "." or ".." or start with "-"'
          : undefined;
  if (problem) throw new CliError(`${option} "${name}" ${problem}`, EXIT.usage);
  return name;
};
