import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, normalize, relative, sep } from 'node:path';
import ts from 'typescript';

// The picture in docs/architecture.md, kept true. The rule lives in one place: the table under the
// picture ("module | imports these modules | imports these packages"). This test reads that table
// instead of holding its own copy, so the doc and the check cannot drift apart; an edge the code no
// longer uses fails too, so the table (and the picture drawn from it) stays the code's real graph.
// Test files (*.test.ts) are exempt: they may reach into any module.

const root = join(import.meta.dirname, '..');
const doc = 'docs/architecture.md';

/** One row of the table: the modules a module may import, and its packages (undefined = any). */
type ModuleRule = { imports: ReadonlySet<string>; packages: readonly string[] | undefined };
type Policy = ReadonlyMap<string, ModuleRule>;
type Import = { file: string; line: number; specifier: string };

const names = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

const readPolicy = (markdown: string): Policy => {
  const lines = markdown.split('\n');
  const header = lines.findIndex((l) => /^\| module \| imports these modules/.test(l));
  assert.ok(header >= 0, `${doc} must hold the table "| module | imports these modules … | imports these packages |"`);
  const policy = new Map<string, ModuleRule>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [module, imports, packages] = line.split('|').slice(1, 4).map((c) => c.trim());
    const [name] = names(module ?? '');
    assert.ok(name !== undefined && imports !== undefined && packages !== undefined, `${doc}: cannot read the row ${line}`);
    policy.set(name, {
      imports: new Set(names(imports)),
      // A pure module may import exactly the backticked packages outside parentheses; "any" elsewhere.
      packages: packages.startsWith('any') ? undefined : names(packages.replace(/\([^)]*\)/g, '')),
    });
  }
  return policy;
};

// pki and registry stay pure (and shared, which they import): whatever the table says, a
// module with a package list never imports a framework, driver, network or environment package.
const IMPURE_PACKAGES = [
  /^(@fastify\/|fastify)/, /^aedes/, /^mqemitter/, /^kysely/, /^pg$/, /^ioredis$/, /^jose$/, /^pino/,
  /^prom-client$/, /^commander$/,
  // node:net is left out on purpose: pki's row allows it for `isIP`, a string check that opens no socket.
  /^(node:)?(fs|tls|http|https|http2|dgram|dns|child_process|cluster|os|process|sqlite|worker_threads|inspector)(\/|$)/,
];

const matches = (pattern: string, specifier: string): boolean =>
  pattern.endsWith('*') ? specifier.startsWith(pattern.slice(0, -1)) : specifier === pattern;

/** Every rule an import breaks, as "file:line imports 'x': rule" — empty when the code obeys the picture. */
const checkImports = (imports: readonly Import[], policy: Policy): string[] => {
  const problems: string[] = [];
  for (const { file, line, specifier } of imports) {
    const where = `${file}:${line} imports '${specifier}'`;
    const from = file.split('/')[1]!;
    const rule = policy.get(from);
    if (rule === undefined) {
      problems.push(`${where}: module ${from} has no row in the table of ${doc}`);
      continue;
    }
    if (!specifier.startsWith('.')) {
      if (rule.packages === undefined) continue;
      const allowed = rule.packages.map((p) => `'${p}'`).join(', ');
      if (IMPURE_PACKAGES.some((p) => p.test(specifier))) {
        problems.push(`${where}: ${from} must stay pure (no framework, driver, network or environment access); ${doc} allows it only ${allowed}`);
      } else if (!rule.packages.some((p) => matches(p, specifier))) {
        problems.push(`${where}: package not in ${from}'s row of ${doc} (only ${allowed})`);
      }
      continue;
    }
    const target = normalize(join(dirname(file), specifier)).split(sep).join('/');
    const [top, to, ...rest] = target.split('/');
    if (top !== 'src' || to === undefined) {
      problems.push(`${where}: points out of src/`);
      continue;
    }
    if (to === from) continue;
    if (!rule.imports.has(to)) {
      const allowed = [...rule.imports].join(', ') || 'nothing';
      problems.push(`${where}: ${from} → ${to} points outward or sideways against the picture (${doc} lets ${from} import ${allowed})`);
    }
    if (rest.join('/') !== 'index.ts') {
      problems.push(`${where}: enters ${to} other than through its index.ts (import '${relative(dirname(file), `src/${to}/index.ts`)}')`);
    }
  }
  return problems;
};

/** Static imports and re-exports, `import('…')` calls and `import('…')` types, with their line. */
const importsOf = (file: string, source: string): Import[] => {
  const sourceFile = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const add = (node: ts.Node, literal: ts.Node | undefined): void => {
    if (literal === undefined || !ts.isStringLiteralLike(literal)) return;
    const line = sourceFile.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    found.push({ file, line, specifier: literal.text });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node, node.moduleSpecifier);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression);
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
};

/** `process.…` in a module whose row names its packages: environment access the picture forbids. */
const environmentAccess = (file: string, source: string): string[] => {
  const sourceFile = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && node.text === 'process' && ts.isPropertyAccessExpression(node.parent)) {
      const line = sourceFile.getLineAndCharacterOfPosition(node.getStart()).line + 1;
      found.push(`${file}:${line} reads '${node.parent.getText()}': ${file.split('/')[1]} must stay pure (no environment access)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
};

const sources = async (): Promise<{ file: string; source: string }[]> => {
  const entries = await readdir(join(root, 'src'), { withFileTypes: true, recursive: true });
  const files = entries.filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/')).sort();
  return Promise.all(files.map(async (file) => ({ file, source: await readFile(join(root, file), 'utf8') })));
};

const modulesOnDisk = async (): Promise<string[]> =>
  (await readdir(join(root, 'src'), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();

const cycleIn = (policy: Policy): string[] | undefined => {
  const visiting: string[] = [];
  const done = new Set<string>();
  const walk = (module: string): string[] | undefined => {
    if (visiting.includes(module)) return [...visiting.slice(visiting.indexOf(module)), module];
    if (done.has(module)) return undefined;
    visiting.push(module);
    for (const next of policy.get(module)?.imports ?? []) {
      const cycle = walk(next);
      if (cycle !== undefined) return cycle;
    }
    visiting.pop();
    done.add(module);
    return undefined;
  };
  for (const module of policy.keys()) {
    const cycle = walk(module);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
};

describe('the architecture picture stays true', async () => {
  const policy = readPolicy(await readFile(join(root, doc), 'utf8'));
  const files = await sources();
  const imports = files.flatMap(({ file, source }) => importsOf(file, source));

  it('the table has one row per folder of src/, and its edges point one way (no cycle)', async () => {
    assert.deepEqual([...policy.keys()].sort(), await modulesOnDisk());
    for (const [module, rule] of policy) {
      for (const to of rule.imports) assert.ok(policy.has(to), `${doc}: ${module} may import ${to}, which is no module`);
    }
    assert.equal(cycleIn(policy)?.join(' → '), undefined);
  });

  it('no import points outward or sideways, or enters a module other than through its index.ts', () => {
    const problems = checkImports(imports, policy);
    assert.deepEqual(problems, [], `imports against ${doc}:\n${problems.join('\n')}`);
  });

  it('every edge of the table is used (the picture shows the code as it is)', () => {
    const used = new Set(imports.filter((i) => i.specifier.startsWith('.'))
      .map((i) => `${i.file.split('/')[1]} → ${normalize(join(dirname(i.file), i.specifier)).split(sep)[1]}`));
    const unused = [...policy].flatMap(([from, rule]) => [...rule.imports].map((to) => `${from} → ${to}`))
      .filter((edge) => !used.has(edge));
    assert.deepEqual(unused, [], `${doc} allows edges no file uses; remove them from the table and the picture`);
  });

  it('the pure modules read no environment', () => {
    const pure = new Set([...policy].filter(([, rule]) => rule.packages !== undefined).map(([module]) => module));
    assert.deepEqual([...pure].sort(), ['pki', 'registry', 'shared']);
    const problems = files.filter(({ file }) => pure.has(file.split('/')[1]!))
      .flatMap(({ file, source }) => environmentAccess(file, source));
    assert.deepEqual(problems, []);
  });

  // The checker must not pass vacuously: synthetic imports that break each rule are reported.
  it('reports an outward import, a side entrance, an impure package and environment access', () => {
    const source = [
      "import { TrustIndex } from '../registry/index.ts';",
      "export type { Agent } from '../registry/agent.ts';",
      "import { publishOnce } from '../files/index.ts';",
      "const app = await import('../app/index.ts');",
      "import type { FastifyInstance } from 'fastify';",
      "import { readFile } from 'node:fs/promises';",
      "import { createHash } from 'node:crypto';",
      "import { DomainError } from '../shared/index.ts';",
      'const url = process.env.TRUSTGATE_URL;',
    ].join('\n');
    const problems = checkImports([
      ...importsOf('src/pki/outward.ts', source),
      { file: 'src/storage/side-entrance.ts', line: 7, specifier: '../registry/trust-index.ts' },
      { file: 'src/storage/escape.ts', line: 1, specifier: '../../test/support/test-pki.ts' },
    ], policy);
    assert.deepEqual(problems.map((p) => p.replace(/:.*?imports '([^']+)'.*/, ' $1')), [
      'src/pki/outward.ts ../registry/index.ts',
      'src/pki/outward.ts ../registry/agent.ts',
      'src/pki/outward.ts ../registry/agent.ts',
      'src/pki/outward.ts ../files/index.ts',
      'src/pki/outward.ts ../app/index.ts',
      'src/pki/outward.ts fastify',
      'src/pki/outward.ts node:fs/promises',
      'src/storage/side-entrance.ts ../registry/trust-index.ts',
      'src/storage/escape.ts ../../test/support/test-pki.ts',
    ]);
    assert.match(problems[0]!, /^src\/pki\/outward\.ts:1 imports '\.\.\/registry\/index\.ts': pki → registry points outward/);
    assert.match(problems[2]!, /^src\/pki\/outward\.ts:2 imports '\.\.\/registry\/agent\.ts': enters registry other than through its index\.ts/);
    assert.match(problems[5]!, /pki must stay pure/);
    assert.match(problems[7]!, /^src\/storage\/side-entrance\.ts:7 .*enters registry other than through its index\.ts \(import '\.\.\/registry\/index\.ts'\)/);
    assert.equal(environmentAccess('src/pki/outward.ts', source).length, 1);
  });
});
