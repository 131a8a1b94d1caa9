import { errorCatalogue, errorCodes } from '../../src/shared/index.ts';
import { httpStatusByCode } from '../../src/http/index.ts';

// The table of docs/errors.md, as the catalogue and the HTTP status table say it must be.
export const errorTableMarkdown = (): string => [
  '| code | HTTP status | meaning |',
  '|---|---|---|',
  ...errorCodes.map((code) => `| \`${code}\` | ${httpStatusByCode[code]} | ${errorCatalogue[code].replaceAll('|', '\\|')} |`),
].join('\n');
