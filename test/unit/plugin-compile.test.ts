// Users' plugins are bundled once per content (src/plugins/compile.ts): the bundle is one plain
// JavaScript module, kept in a cache directory with the hashes of the files it was made of; the
// next compile of unchanged files starts no compiler, an edit compiles afresh, and esbuild's
// process is gone once no compile runs.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { PluginCompiler } from '../../src/plugins/compile.ts';

const PLUGIN = (weight: number) => `import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
import { helper } from './helper.ts';
export default definePlugin({
  name: 'cached',
  configSchema: z.object({ weight: z.number().default(${weight}) }),
  setup(ctx) { ctx.log.info(helper()); },
});
`;

/** esbuild processes whose parent is this process, but for those running before the test (tsx,
 * which runs this test file, has one of its own). */
const before = new Set<number>();
function esbuildChildren(): number[] {
  return esbuildProcesses().filter((p) => !before.has(p));
}

function esbuildProcesses(): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('esbuild')) out.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function noEsbuildWithin(ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = esbuildChildren();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    left = esbuildChildren();
  }
  return left;
}

test('a user plugin is bundled once per content, cached, and no compiler outlives the compile', async () => {
  for (const p of esbuildProcesses()) before.add(p);
  const work = mkdtempSync(join(tmpdir(), 'vigil-compile-'));
  try {
    const cache = join(work, 'cache');
    mkdirSync(cache, { mode: 0o700 });
    const dir = join(work, 'plugin');
    mkdirSync(dir);
    writeFileSync(join(dir, 'index.ts'), PLUGIN(3));
    writeFileSync(join(dir, 'helper.ts'), `export const helper = (): string => 'from the helper';\n`);

    const c = new PluginCompiler(cache);
    const first = await c.compileUser(join(dir, 'index.ts'));
    assert.equal(first.cached, false);
    assert.ok(first.file?.startsWith(cache), 'the bundle is in the cache directory');
    assert.deepEqual(first.files.sort(), [join(dir, 'helper.ts'), join(dir, 'index.ts')], "the plugin's own files, vigil's left out");
    assert.doesNotMatch(first.code, /^import .* from "(?!node:)/m, 'nothing imported but Node modules: vigil/plugin and zod are inside');
    assert.doesNotMatch(first.code, /: (?:string|number)\b[),]/, 'no TypeScript left');
    assert.deepEqual(await noEsbuildWithin(2000), [], 'esbuild stopped after the compile');

    const mod = (await import(pathToFileURL(first.file ?? '').href)) as { default: { name: string } };
    assert.equal(mod.default.name, 'cached');

    // another engine (a restart): same files, same bundle, no compiler started
    const again = await new PluginCompiler(cache).compileUser(join(dir, 'index.ts'));
    assert.equal(again.cached, true);
    assert.equal(again.file, first.file);
    assert.deepEqual(esbuildChildren(), []);

    // an edit of any file it was made of compiles afresh
    writeFileSync(join(dir, 'helper.ts'), `export const helper = (): string => 'edited';\n`);
    const edited = await new PluginCompiler(cache).compileUser(join(dir, 'index.ts'));
    assert.equal(edited.cached, false);
    assert.notEqual(edited.file, first.file);
    assert.match(edited.code, /edited/);
    assert.ok(!existsSync(first.file ?? ''), "the previous content's bundle is gone: one bundle per plugin");
    assert.deepEqual(await noEsbuildWithin(2000), []);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('a cache directory others can write to is not used: the bundle stays in memory', async () => {
  const work = mkdtempSync(join(tmpdir(), 'vigil-compile-'));
  try {
    const base = join(work, 'open');
    mkdirSync(base);
    chmodSync(base, 0o777);
    const prev = process.env.VIGIL_CACHE_DIR;
    process.env.VIGIL_CACHE_DIR = base;
    try {
      const { cacheDir } = await import('../../src/plugins/compile.ts');
      assert.equal(cacheDir(), undefined);
    } finally {
      if (prev === undefined) delete process.env.VIGIL_CACHE_DIR;
      else process.env.VIGIL_CACHE_DIR = prev;
    }
    writeFileSync(join(work, 'p.ts'), PLUGIN(1).replace("import { helper } from './helper.ts';\n", '').replace('helper()', "'x'"));
    const c = new PluginCompiler(null);
    const b = await c.compileUser(join(work, 'p.ts'));
    assert.equal(b.file, undefined);
    assert.equal((await c.compileUser(join(work, 'p.ts'))).cached, true, 'held in memory for this engine');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
