import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

// The README says `npm install` works with any Node.js that runs npm, and names the packages whose
// `engines` make npm warn (EBADENGINE) on the oldest Node.js in use (20). A new dependency that
// adds such a warning must be named there too (or avoided).

const root = join(import.meta.dirname, '..');
const OLDEST_NODE_MAJOR = 20;

/** Whether an engines.node range admits some Node.js `major` (enough for the ranges in the lock file). */
const admits = (range: string, major: number): boolean => range.split('||').some((alternative) => {
  const clauses = alternative.trim().replace(/([<>=^~])\s+/g, '$1').split(/\s+/);
  return clauses.every((clause) => {
    const match = /^(>=|>|<=|<|\^|~|=)?\s*v?(\d+)/.exec(clause.trim());
    if (!match) return true;
    const [, operator = '', digits] = match;
    const bound = Number(digits);
    if (operator === '>=') return major >= bound;
    if (operator === '>') return major >= bound; // >20.1 still admits a later 20.x
    if (operator === '<=') return major <= bound;
    if (operator === '<') return major < bound || (major === bound && /\d+\.\d/.test(clause));
    return major === bound; // ^N, ~N, =N, N, N.x
  });
});

test(`the packages that npm warns about on Node.js ${OLDEST_NODE_MAJOR} (EBADENGINE) are the ones the README names`, async () => {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };
  const refusing = new Set(Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.engines?.node !== undefined && !admits(entry.engines.node, OLDEST_NODE_MAJOR))
    .map(([path]) => path.replace(/^.*node_modules\//, '')));
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const paragraph = /On a\s+Node\.js older than 22, `npm install` prints `EBADENGINE` warnings[\s\S]*?\n\n/.exec(readme)?.[0] ?? '';
  assert.notEqual(paragraph, '', 'the README explains the EBADENGINE warnings');
  const named = new Set([...paragraph.matchAll(/`([a-z@][\w@/.-]*)`/g)].map((match) => match[1]!).filter((name) => lockHas(lock, name)));
  assert.deepEqual([...refusing].sort(), [...named].sort());
});

const lockHas = (lock: { packages: Record<string, unknown> }, name: string): boolean => Object.keys(lock.packages).some((path) => path.endsWith(`node_modules/${name}`));

test('the range reader: what admits Node.js 20', () => {
  for (const range of ['>=20', '>=20.0.0', '18 || 20 || >=22', '20 || >=22', '^16 || ^18 || >=20', '>=16 || 14 >=14.17', '>= 0.8']) assert.ok(admits(range, 20), range);
  for (const range of ['>=22', '^22', '18 || >=22', '>=22.12.0']) assert.ok(!admits(range, 20), range);
});
