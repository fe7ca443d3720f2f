// The public plugin module as a plugin author meets it.
// - checkDefinition / validateConfig (src/plugins/definition.ts): what is a plugin, which API
//   versions load, configSchema optional; the runtime's ctx.on refusing unknown event names.
// - `vigil/plugin` as a package export: a plugin project in a temporary directory outside this
//   repository, set up as docs/plugins.md says (its tsconfig.json is taken from there), with
//   vigil in its node_modules (a link to this checkout, as `npm install /path/to/vigil` makes),
//   type-checks a plugin with the repository's tsc against dist/types; typos in event names,
//   wrong payload field types, config fields not in the schema and another apiVersion are
//   type errors; and node imports 'vigil/plugin' (dist/plugin.mjs), as a plugin's own tests do.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { checkDefinition, issueText, validateConfig } from '../../src/plugins/definition.ts';
import { definePlugin, PLUGIN_API_VERSION, type PluginDefinition } from '../../src/plugins/api.ts';
import { startPlugin } from '../lib/plugin-harness.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('plugin definitions', () => {
  const ok = { apiVersion: 1, name: 'p', setup() {} };

  test('a module is a plugin when it default-exports a name and a setup; configSchema is optional', () => {
    assert.equal(checkDefinition({ default: ok }).name, 'p');
    assert.equal(checkDefinition({ default: { ...ok, configSchema: z.object({}) } }).name, 'p');
    const cases: Array<[unknown, RegExp]> = [
      [{}, /not a plugin: the module has no default export; a plugin module must `export default definePlugin\(\{ apiVersion: 1, name, setup \}\)`/],
      [{ default: 'x' }, /its default export is a string, not a plugin definition/],
      [{ default: { ...ok, name: '' } }, /its definition has no name/],
      [{ default: { apiVersion: 1, name: 'p' } }, /its definition \(p\) has no setup function/],
      [{ default: { ...ok, configSchema: { shape: {} } } }, /plugin p: configSchema is not a zod schema/],
      [{ default: { ...ok, apiVersion: 2 } }, /^Error: plugin p was written for plugin API 2; this vigil supports 1$/],
      [{ default: { ...ok, apiVersion: '1' } }, /written for plugin API "1"/],
    ];
    for (const [mod, message] of cases) assert.throws(() => checkDefinition(mod), message);
    assert.throws(() => checkDefinition({}, { source: '/etc/vigil/plugins/x.ts' }), /^Error: \/etc\/vigil\/plugins\/x\.ts: not a plugin/);
  });

  test('a definition without apiVersion loads as API 1, with a warning', () => {
    const warnings: string[] = [];
    checkDefinition({ default: { name: 'old', setup() {} } }, { warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, ['plugin old declares no apiVersion: taken as plugin API 1; add `apiVersion: 1` to its definePlugin({...})']);
    assert.equal(PLUGIN_API_VERSION, 1);
  });

  test('validateConfig: the schema with its defaults, issues with their paths; without a schema the section as written', () => {
    const def = { configSchema: z.object({ weight: z.number().default(-50), targets: z.array(z.object({ url: z.url() })).default([]) }) };
    assert.deepEqual(validateConfig(def, undefined), { ok: true, config: { weight: -50, targets: [] } });
    const bad = validateConfig(def, { weight: 'x', targets: [{ url: 'nope' }] });
    assert.equal(bad.ok, false);
    const issues = bad.ok ? [] : bad.issues;
    assert.deepEqual(
      issues.map((i) => i.path),
      [['weight'], ['targets', 0, 'url']],
    );
    assert.match(issueText(issues[1]!, 'plugins.p'), /^plugins\.p\.targets\.0\.url: /);
    assert.deepEqual(validateConfig({}, { any: 'thing' }), { ok: true, config: { any: 'thing' } });
    assert.deepEqual(validateConfig({}, undefined), { ok: true, config: undefined });
  });

  test("ctx.on with an unknown event name throws, naming the valid ones (setup fails)", async () => {
    const typo = definePlugin({
      apiVersion: 1,
      name: 'typo',
      setup(ctx) {
        ctx.on('instance.transtion' as 'instance.transition', () => undefined);
      },
    });
    // (the harness takes plugins with a schema; this one needs none)
    await assert.rejects(startPlugin(typo as unknown as PluginDefinition<z.ZodType>, undefined), /ctx\.on: unknown event type "instance\.transtion"; the event types are instance\.transition, group\.transition, .*virtualserver\.quorum \(or '\*' for all\)/);
  });
});

/** The tsconfig.json docs/plugins.md gives plugin authors (its json block with moduleResolution). */
function docsTsconfig(): string {
  const docs = readFileSync(join(ROOT, 'docs', 'plugins.md'), 'utf8');
  const block = [...docs.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').find((b) => b.includes('"moduleResolution"'));
  assert.ok(block, 'docs/plugins.md shows a tsconfig.json for plugin projects');
  JSON.parse(block);
  return block;
}

const GOOD = `
import { definePlugin, type EventOf, type InstanceInfo } from 'vigil/plugin';
import { z } from 'zod';

export default definePlugin({
  apiVersion: 1,
  name: 'ping-check',
  configSchema: z.object({ target: z.string(), instance: z.string(), weight: z.number().default(-50) }),
  setup(ctx) {
    const weight: number = ctx.config.weight;
    const target: string = ctx.config.target;
    const first: InstanceInfo | undefined = ctx.instances[0];
    ctx.on('instance.transition', (e) => ctx.log.info(\`\${e.instance}: \${e.from} -> \${e.to} (\${e.reason}) \${e.priority} \${first?.name}\`));
    ctx.on('plugin.handler_failed', (e: EventOf<'plugin.handler_failed'>) => ctx.log.warn(e.plugin + e.eventSeq));
    ctx.on('*', (e) => { if (e.type === 'realserver.down') ctx.log.debug(e.reason); });
    ctx.adjustPriority(ctx.config.instance, 'ping', weight);
    void ctx.run(['/bin/ping', '-c1', target], { timeoutMs: 2000 }).then((r) => ctx.log.info(String(r.ok)));
  },
});
`;

/** Plugins that must not type-check, with the TypeScript error each must get. */
const BAD: Record<string, { code: string; text: RegExp; source: string }> = {
  'typo-event.ts': {
    code: 'TS2769',
    text: /instance\.transtion/,
    source: `import { definePlugin } from 'vigil/plugin';
export default definePlugin({ apiVersion: 1, name: 'x', setup(ctx) { ctx.on('instance.transtion', (e) => ctx.log.info(String(e))); } });`,
  },
  'wrong-field-type.ts': {
    code: 'TS2322',
    text: /Type 'string' is not assignable to type 'number'/,
    source: `import { definePlugin } from 'vigil/plugin';
export default definePlugin({ apiVersion: 1, name: 'x', setup(ctx) { ctx.on('instance.transition', (e) => { const vrid: number = e.instance; ctx.log.info(String(vrid)); }); } });`,
  },
  'config-field.ts': {
    code: 'TS2339',
    text: /Property 'target' does not exist on type '\{ weight: number; \}'/,
    source: `import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ apiVersion: 1, name: 'x', configSchema: z.object({ weight: z.number() }), setup(ctx) { ctx.log.info(String(ctx.config.target)); } });`,
  },
  'api-version.ts': {
    code: 'TS2322',
    text: /Type '2' is not assignable to type '1'/,
    source: `import { definePlugin } from 'vigil/plugin';
export default definePlugin({ apiVersion: 2, name: 'x', setup() {} });`,
  },
  'no-schema.ts': {
    code: 'TS18046',
    text: /'ctx\.config' is of type 'unknown'/,
    source: `import { definePlugin } from 'vigil/plugin';
export default definePlugin({ apiVersion: 1, name: 'x', setup(ctx) { ctx.log.info(ctx.config.anything); } });`,
  },
};

describe('vigil/plugin in a plugin project outside the repository', () => {
  let project: string;

  before(() => {
    // npm test builds first; a lone run of this file builds if there is nothing built
    if (!existsSync(join(ROOT, 'dist', 'types', 'plugins', 'sdk.d.ts')) || !existsSync(join(ROOT, 'dist', 'plugin.mjs'))) {
      execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--quiet'], { stdio: 'inherit' });
    }
    project = mkdtempSync(join(tmpdir(), 'vigil-plugin-project-'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-vigil-plugins', private: true, type: 'module' }, null, 2));
    writeFileSync(join(project, 'tsconfig.json'), docsTsconfig());
    // what `npm install /path/to/vigil zod @types/node` leaves (a directory install is a link)
    mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
    symlinkSync(ROOT, join(project, 'node_modules', 'vigil'));
    symlinkSync(join(ROOT, 'node_modules', 'zod'), join(project, 'node_modules', 'zod'));
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'));
    mkdirSync(join(project, 'plugins'));
    writeFileSync(join(project, 'plugins', 'ping-check.ts'), GOOD);
    for (const [file, bad] of Object.entries(BAD)) writeFileSync(join(project, 'plugins', file), bad.source);
  });
  after(() => rmSync(project, { recursive: true, force: true }));

  test('tsc --noEmit passes on a correct plugin and fails each mistake with its error', () => {
    // one compiler run for all files: each error line names its file
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', project, '--pretty', 'false'], { cwd: project, encoding: 'utf8' });
    const lines = r.stdout.split('\n').filter((l) => /^plugins\//.test(l));
    assert.notEqual(r.status, 0, 'the bad plugins fail');
    assert.deepEqual(
      lines.filter((l) => l.startsWith('plugins/ping-check.ts')),
      [],
      `the correct plugin type-checks:\n${r.stdout}`,
    );
    for (const [file, bad] of Object.entries(BAD)) {
      const mine = lines.filter((l) => l.startsWith(`plugins/${file}(`));
      assert.equal(mine.length, 1, `${file}: one error:\n${r.stdout}`);
      assert.match(mine[0] ?? '', new RegExp(`error ${bad.code}: `), `${file}: ${mine[0]}`);
      assert.match(r.stdout.slice(r.stdout.indexOf(mine[0] ?? '')), bad.text, `${file}: ${mine[0]}`);
    }
    // nothing else failed: no 'Cannot find module', nothing in vigil's own declarations
    assert.deepEqual(
      r.stdout.split('\n').filter((l) => /error TS/.test(l) && !Object.keys(BAD).some((f) => l.startsWith(`plugins/${f}(`))),
      [],
    );
  });

  test("node imports 'vigil/plugin' from the project (a plugin's own tests)", () => {
    const script = `import { definePlugin, PLUGIN_API_VERSION, EVENT_TYPES, monoMs } from 'vigil/plugin';
const d = definePlugin({ apiVersion: 1, name: 'x', setup() {} });
console.log(JSON.stringify({ name: d.name, v: PLUGIN_API_VERSION, transition: EVENT_TYPES.includes('instance.transition'), clock: typeof monoMs() }));`;
    writeFileSync(join(project, 'smoke.mjs'), script);
    const out = execFileSync(process.execPath, [join(project, 'smoke.mjs')], { cwd: project, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), { name: 'x', v: 1, transition: true, clock: 'number' });
  });
});
