import { KEY_TYPES, type KeyType } from '../pki/index.ts';
import { AGENT_NAME_RULE, agentNameProblem, isTenantId, showName } from '../shared/index.ts';
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

// The one rule for agent names (src/shared/names.ts), the same the API applies to
// POST /agentCertificates: checked before any certificate is issued.
export const checkAgentName = (option: string, name: string, shown: string = `${option} ${showName(name)}`): string => {
  const problem = agentNameProblem(name);
  if (problem !== undefined) {
    throw new CliError(`${shown} cannot be an agent name: ${problem}; use ${AGENT_NAME_RULE} (it becomes the certificate's CN, the client id <tenant>_<name> and the file names)`, EXIT.usage);
  }
  return name;
};

