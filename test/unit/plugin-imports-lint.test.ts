// The built-ins' one door into vigil (issue 13): eslint.config.js's vigil/plugin-imports rule lets
// a file under plugins/NAME/ import vigil only as 'vigil/plugin', plus node's modules, npm
// packages, its own folder and plugins/_shared/. Checked through ESLint's own API with the
// repository's config, on snippets placed (by filePath) in a plugin folder, and on the real tree.
//
// The type-aware part of the config (typescript-eslint's project service) is turned off here: it
// cannot type a file that exists only as a snippet, and the rule under test needs no types.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULE = 'vigil/plugin-imports';

const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: false } },
    rules: { '@typescript-eslint/no-floating-promises': 'off' },
  },
});

/** The rule's messages (and any fatal parse error, which would hide them) for `text` as the file
 * `filePath` (relative to the repository). */
async function lint(filePath: string, text: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(text, { filePath });
  assert.ok(result, 'ESLint returned no result');
  return result.messages.filter((m) => m.ruleId === RULE || m.fatal);
}

test('a plugin importing vigil internals is an error that says to import from vigil/plugin', async () => {
  const messages = await lint('plugins/x/index.ts', "import { lookupUser } from '../../src/plugins/run.ts';\nexport const root = lookupUser('root');\n");
  assert.equal(messages.length, 1, JSON.stringify(messages));
  const [m] = messages;
  assert.equal(m?.ruleId, RULE);
  assert.equal(m?.severity, 2);
  assert.equal(m?.line, 1);
  assert.match(m?.message ?? '', /'\.\.\/\.\.\/src\/plugins\/run\.ts'.*import vigil only from 'vigil\/plugin'/);
});

test('every spelling of a path into src/ is caught: type imports, re-exports, dynamic imports, detours', async () => {
  const text = [
    "import type { Config } from '../../src/config/schema.ts';",
    "export { monoMs } from '../../src/clock.ts';",
    "export * from '../../src/plugins/api.ts';",
    "export const later = () => import('../../src/plugins/run.ts');",
    "export type T = import('../../src/bus/events.ts').VigilEvent;",
    "import { z } from './../../plugins/../src/config/schema.ts';",
    "import '/work/elsewhere/mod.ts';",
    'export type C = Config;',
    'export const zz = z;',
  ].join('\n');
  const messages = await lint('plugins/x/index.ts', text);
  assert.deepEqual(
    messages.map((m) => [m.line, m.messageId]),
    [1, 2, 3, 4, 5, 6, 7].map((line) => [line, 'internal']),
    JSON.stringify(messages),
  );
});

test("another plugin's folder, vigil's other paths and a nested file's detour are errors too", async () => {
  const messages = await lint(
    'plugins/track-process/sub/deep.ts',
    [
      "import { effect } from '../../track-script/state.ts';",
      "import { definePlugin } from 'vigil';",
      "import { x } from 'vigil/src/plugins/run.ts';",
      "import { y } from '../../../src/clock.ts';",
      'export const all = [effect, definePlugin, x, y];',
    ].join('\n'),
  );
  assert.deepEqual(
    messages.map((m) => [m.line, m.messageId]),
    [
      [1, 'otherPlugin'],
      [2, 'vigil'],
      [3, 'vigil'],
      [4, 'internal'],
    ],
    JSON.stringify(messages),
  );
  assert.match(messages[0]?.message ?? '', /another plugin's file: import from 'vigil\/plugin', or move the shared code to plugins\/_shared\//);
  // plugins/_shared is shared, not a door into a plugin
  const shared = await lint('plugins/_shared/helper.ts', "import { schema } from '../webhook/config.ts';\nexport const s = schema;\n");
  assert.deepEqual(
    shared.map((m) => m.messageId),
    ['otherPlugin'],
  );
});

test('the public API, node, npm packages, its own folder and plugins/_shared pass', async () => {
  const text = [
    "import { definePlugin, lookupUser, type EventOf } from 'vigil/plugin';",
    "import { readFileSync } from 'node:fs';",
    "import { join } from 'path';",
    "import { z } from 'zod';",
    "import nodemailer from 'nodemailer';",
    "import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';",
    "import { configSchema } from './config.ts';",
    "import { helper } from './lib/helper.ts';",
    "import { backoffDelay } from '../_shared/backoff.ts';",
    "import { thing } from '../x/other.ts';",
    'export const all = [definePlugin, lookupUser, readFileSync, join, z, nodemailer, DescribeInstancesCommand, configSchema, helper, backoffDelay, thing];',
    "export type T = EventOf<'instance.transition'>;",
  ].join('\n');
  assert.deepEqual(await lint('plugins/x/index.ts', text), []);
});

test('the rule applies to plugins/ only: vigil itself imports its own modules freely', async () => {
  assert.deepEqual(await lint('src/plugins/example.ts', "import { lookupUser } from './run.ts';\nexport const u = lookupUser;\n"), []);
});

test('the real built-ins pass the rule', async () => {
  const results = await eslint.lintFiles(['plugins']);
  assert.ok(results.length >= 10, `only ${results.length} files linted under plugins/`);
  const problems = results.flatMap((r) => r.messages.filter((m) => m.ruleId === RULE || m.fatal).map((m) => `${r.filePath}:${m.line}: ${m.message}`));
  assert.deepEqual(problems, []);
});

test('the config layer imports no plugin code (src/config/** -> src/plugins, plugins/): no-restricted-imports', async () => {
  const [bad] = await eslint.lintText("import { builtinNames } from '../plugins/loader.ts';\nimport { configSchema } from '../../plugins/webhook/config.ts';\nexport const x = [builtinNames, configSchema];\n", {
    filePath: 'src/config/plugin-sections/x.ts',
  });
  const restricted = (bad?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports');
  assert.deepEqual(
    restricted.map((m) => m.line),
    [1, 2],
    JSON.stringify(bad?.messages),
  );
  assert.match(restricted[0]?.message ?? '', /src\/config imports no plugin code/);
  const [fine] = await eslint.lintText("import { resolveVirtualServer } from '../../lvs/resolve.ts';\nexport const x = resolveVirtualServer;\n", { filePath: 'src/config/plugin-sections/x.ts' });
  assert.deepEqual(
    (fine?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports'),
    [],
  );
});
