// Rewrites the generated tables of docs/errors.md and docs/config.md from the code
// (`node scripts/update-docs.ts`); test/docs.test.ts fails while they differ.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configTableMarkdown, errorTableMarkdown } from '../test/support/error-docs.ts';

const root = join(import.meta.dirname, '..');
const replaceTable = async (file: string, table: string) => {
  const path = join(root, file);
  const text = await readFile(path, 'utf8');
  const start = text.indexOf('\n| ');
  const end = text.indexOf('\n\n', start + 1);
  if (start < 0 || end < 0) throw new Error(`${file}: no table found`);
  await writeFile(path, `${text.slice(0, start + 1)}${table}${text.slice(end)}`);
};
await replaceTable('docs/errors.md', errorTableMarkdown());
await replaceTable('docs/config.md', configTableMarkdown());
