import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run } from './e2e/e2e-helpers.ts';
import { TRUSTGATE_BIN } from './support/spawn-server.ts';

// Issue 13, item 9: docs/architecture.md listed three CLI commands of fifteen. The commands are
// read from the CLI's own --help (commander's list), so a command added or removed without its
// docs fails here.

const root = join(import.meta.dirname, '..');

const commandsOf = async (...group: string[]): Promise<string[]> => {
  const help = await run(TRUSTGATE_BIN, [...group, '--help']);
  assert.equal(help.code, 0, help.stderr);
  const listed = help.stdout.split(/\nCommands:\n/)[1]?.split('\n\n')[0];
  assert.ok(listed, `trustgate ${group.join(' ')} --help lists commands`);
  return [...listed.matchAll(/^ {2}([a-z-]+)/gm)].map((match) => match[1]!).filter((name) => name !== 'help');
};

describe('the CLI\'s commands, as the docs list them', () => {
  it('docs/architecture.md names every command, and docs/cli.md has a section for each', async () => {
    const commands: string[] = [];
    for (const command of await commandsOf()) {
      const subcommands = command === 'ca' || command === 'agent' || command === 'audit' || command === 'agent-token-key' || command === 'command' ? await commandsOf(command) : [];
      if (subcommands.length === 0) commands.push(command);
      else commands.push(...subcommands.map((sub) => `${command} ${sub}`));
    }
    assert.ok(commands.includes('agent issue') && commands.includes('serve'), commands.join(', '));

    const architecture = await readFile(join(root, 'docs/architecture.md'), 'utf8');
    const cliRow = architecture.split('\n').find((line) => line.startsWith('| `src/cli/` |'));
    assert.ok(cliRow, 'docs/architecture.md has the src/cli/ row');
    const cliDoc = await readFile(join(root, 'docs/cli.md'), 'utf8');
    const headings = cliDoc.split('\n').filter((line) => line.startsWith('### '));
    for (const command of commands) {
      assert.ok(cliRow.includes(`\`${command}\``), `docs/architecture.md's src/cli/ row names \`${command}\``);
      // "### `trustgate ca create`" or, grouped, "### `trustgate ca list`, `ca show <id>`, `ca delete <id>`".
      assert.ok(headings.some((heading) => [`\`trustgate ${command}\``, `\`trustgate ${command} `, `\`${command}\``, `\`${command} `].some((form) => heading.includes(form))),
        `docs/cli.md has a section for trustgate ${command}`);
    }
  });

  it('docs/cli.md\'s `trustgate serve` section names every option of `serve --help`', async () => {
    const help = await run(TRUSTGATE_BIN, ['serve', '--help']);
    assert.equal(help.code, 0, help.stderr);
    const options = [...(help.stdout.split(/\nOptions:\n/)[1]?.split('\n\n')[0] ?? '').matchAll(/^ {2}(--[a-z-]+)/gm)].map((match) => match[1]!).filter((name) => name !== '--help');
    assert.ok(options.includes('--workers'), options.join(', '));
    assert.ok(!options.includes('--worker'), 'the supervisor\'s --worker <index> is not for people');
    const cliDoc = await readFile(join(root, 'docs/cli.md'), 'utf8');
    const section = cliDoc.split('### `trustgate serve`')[1]?.split('\n## ')[0] ?? '';
    for (const option of options) assert.ok(section.includes(`\`${option} `) || section.includes(`\`${option}\``), `docs/cli.md's serve section documents ${option}`);
  });
});
