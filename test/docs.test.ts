import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCodes } from '../src/shared/index.ts';
import { configTableMarkdown, errorTableMarkdown } from './support/error-docs.ts';

const root = join(import.meta.dirname, '..');

const sourceFiles = async (dir: string): Promise<string[]> => {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name));
};

describe('docs stay true', () => {
  it('docs/errors.md holds exactly the catalogue, with each code\'s HTTP status', async () => {
    const doc = await readFile(join(root, 'docs/errors.md'), 'utf8');
    assert.ok(doc.includes(errorTableMarkdown()),
      `docs/errors.md must contain this table verbatim (node scripts/update-docs.ts):\n${errorTableMarkdown()}`);
  });

  it('every catalogued code is produced somewhere in src (no dead codes)', async () => {
    const files = (await sourceFiles(join(root, 'src')))
      .filter((f) => !f.endsWith('error-catalogue.ts') && !f.endsWith('error-status.ts'));
    const source = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\n');
    const unused = errorCodes.filter((code) => !source.includes(`'${code}'`));
    assert.deepEqual(unused, []);
  });

  it('docs/config.md holds every setting with its environment variable and default', async () => {
    const doc = await readFile(join(root, 'docs/config.md'), 'utf8');
    assert.ok(doc.includes(configTableMarkdown()),
      `docs/config.md must contain this table verbatim (node scripts/update-docs.ts):\n${configTableMarkdown()}`);
  });
});
