import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DATA_DIR_KEY_FILES, SQLITE_DATABASE_FILE } from '../src/app/index.ts';

// docs/config.md's data-dir table and docs/deployment.md's backup section name every file trustgate
// keeps in the data dir (issue 13 item 9, issue 14 item 4): what an operator backs up.

const root = join(import.meta.dirname, '..');
const sectionOf = (text: string, heading: string): string => {
  const start = text.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `no "## ${heading}" section`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
};
const files = [SQLITE_DATABASE_FILE, ...DATA_DIR_KEY_FILES.map((file) => file.name)];

describe('the data dir in the docs', () => {
  it('docs/config.md\'s data-dir table has one row per file, and no other', async () => {
    const section = sectionOf(await readFile(join(root, 'docs/config.md'), 'utf8'), 'Data dir');
    const rows = section.split('\n').filter((line) => line.startsWith('| `')).map((line) => /^\| `([^`]+)`/.exec(line)![1]);
    assert.deepEqual(rows, files);
  });

  it('docs/deployment.md\'s "Backup and restore" names every file', async () => {
    const section = sectionOf(await readFile(join(root, 'docs/deployment.md'), 'utf8'), 'Backup and restore');
    assert.deepEqual(files.filter((file) => !section.includes(`\`${file}\``)), []);
  });
});
