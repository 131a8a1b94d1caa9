import { errorCatalogue, errorCodes } from '../../src/shared/index.ts';
import { httpStatusByCode } from '../../src/http/index.ts';
import { connackCodeByError } from '../../src/mqtt/connack-codes.ts';
import { configSchema, type Setting } from '../../src/config/index.ts';

// The table of docs/errors.md, as the catalogue and the HTTP status table say it must be.
export const errorTableMarkdown = (): string => [
  '| code | HTTP status | CONNACK | meaning |',
  '|---|---|---|---|',
  ...errorCodes.map((code) => `| \`${code}\` | ${httpStatusByCode[code]} | ${connackCodeByError[code]} | ${errorCatalogue[code].replaceAll('|', '\\|')} |`),
].join('\n');

// A policy object (TRUSTGATE_RATE_LIMITS) is shown by its name.
const shownDefault = (value: unknown): string =>
  value === undefined || (Array.isArray(value) && value.length === 0) ? 'unset'
    : typeof value === 'object' && value !== null && 'source' in value ? `\`${String(value.source)}\``
      : `\`${Array.isArray(value) ? value.join(',') : String(value)}\``;

// The table of docs/config.md, one row per setting of src/config/config-schema.ts.
export const configTableMarkdown = (): string => [
  '| variable | default | meaning |',
  '|---|---|---|',
  ...Object.values(configSchema).flatMap((settings) => Object.values(settings as Record<string, Setting<unknown>>)
    .map((setting) => `| \`${setting.env}\` | ${shownDefault(setting.default)} | ${setting.description} |`)),
].join('\n');
