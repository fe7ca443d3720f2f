// Which plugins a config names against which plugins exist (src/plugins/inventory.ts): a user
// plugin named like a built-in, a plugins.NAME section naming no plugin (with and without a
// plugins_dir), a plugin_user entry naming no user plugin. Each an error at its place.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { formatDiagnostic, PositionMap } from '../../src/config/diagnostics.ts';
import { configSchema } from '../../src/config/schema.ts';
import { inventoryCheck, pluginInventory } from '../../src/plugins/inventory.ts';
import { builtinNames, pluginSpecs } from '../../src/plugins/loader.ts';

const BUILTINS = ['notify-script', 'track-script', 'webhook'];

/** Positions as a reader would record them: plugins.NAME at line 10 + its index. */
function positions(names: string[], users: string[] = []): PositionMap {
  const m = new PositionMap({ file: 'cfg.yaml', line: 1, col: 1 });
  m.set(['plugins'], { file: 'cfg.yaml', line: 9, col: 1 });
  names.forEach((n, i) => m.set(['plugins', n], { file: 'cfg.yaml', line: 10 + i, col: 3 }));
  users.forEach((u, i) => m.set(['global_defs', 'plugin_user', u], { file: 'cfg.yaml', line: 3 + i, col: 5 }));
  return m;
}

const config = (raw: Record<string, unknown>) => configSchema.parse(raw);

describe('pluginInventory', () => {
  test('a section for a built-in or a user plugin file is fine; a clean config has nothing to say', () => {
    const c = config({ global_defs: { plugins_dir: '/etc/vigil/plugins' }, plugins: { webhook: {}, 'file-prio': { weight: -5 } } });
    assert.deepEqual(pluginInventory(c, positions(['webhook', 'file-prio']), BUILTINS, [{ id: 'file-prio', entry: '/etc/vigil/plugins/file-prio.ts' }]), []);
  });

  test('a user plugin named like a built-in is an error at its file, naming the built-in and the fix', () => {
    const c = config({ global_defs: { plugins_dir: '/etc/vigil/plugins' } });
    const ds = pluginInventory(c, positions([]), BUILTINS, [
      { id: 'webhook', entry: '/etc/vigil/plugins/webhook.ts' },
      { id: 'mine', entry: '/etc/vigil/plugins/mine.ts' },
    ]);
    assert.equal(ds.length, 1);
    const [d] = ds;
    assert.equal(d?.severity, 'error');
    assert.equal(d?.file, '/etc/vigil/plugins/webhook.ts');
    assert.equal(d?.field, 'global_defs.plugins_dir');
    assert.match(d?.message ?? '', /has the name of the built-in plugin 'webhook': built-ins cannot be replaced; rename the file.*my-webhook/);
  });

  test('a section naming no plugin is an error at the section, with or without a plugins_dir', () => {
    const withDir = config({ global_defs: { plugins_dir: '/etc/vigil/plugins' }, plugins: { webhook: {}, ghost: { a: 1 } } });
    assert.deepEqual(pluginInventory(withDir, positions(['webhook', 'ghost']), BUILTINS, [{ id: 'other', entry: '/etc/vigil/plugins/other.ts' }]).map(formatDiagnostic), [
      'cfg.yaml:11:3: plugins.ghost: no plugin ghost: not a built-in (notify-script, track-script, webhook) and no ghost.ts|.mts|.js|.mjs or ghost/index.* in /etc/vigil/plugins',
    ]);
    const noDir = config({ plugins: { ghost: {} } });
    assert.deepEqual(pluginInventory(noDir, positions(['ghost']), BUILTINS, []).map(formatDiagnostic), [
      'cfg.yaml:10:3: plugins.ghost: no plugin ghost: not a built-in (notify-script, track-script, webhook) and no ghost.ts|.mts|.js|.mjs or ghost/index.* and no plugins_dir (global_defs.plugins_dir) to find a user plugin in',
    ]);
  });

  test('plugin_user: a user plugin or * is fine; a built-in or a name with no file is an error at the entry', () => {
    const c = config({ global_defs: { plugins_dir: '/p', plugin_user: { watcher: 'nobody', '*': 'nobody', 'notify-script': 'nobody', ghost: 'nobody' } } });
    const ds = pluginInventory(c, positions([], ['watcher', '*', 'notify-script', 'ghost']), BUILTINS, [{ id: 'watcher', entry: '/p/watcher.ts' }]).map(formatDiagnostic);
    assert.deepEqual(ds, [
      "cfg.yaml:5:5: global_defs.plugin_user.notify-script: 'notify-script' is a built-in plugin: built-ins run inside the daemon, only user plugins can run as another user",
      "cfg.yaml:6:5: global_defs.plugin_user.ghost: no user plugin 'ghost': no ghost.ts|.mts|.js|.mjs or ghost/index.* in /p",
    ]);
  });
});

describe('on a real plugins directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-inventory-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const builtin = builtinNames()[0] as string;

  test('the built-ins are known, and inventoryCheck reads the directory (files and folders)', () => {
    assert.ok(builtinNames().includes('webhook'), builtinNames().join(', '));
    writeFileSync(join(dir, 'alpha.ts'), '');
    mkdirSync(join(dir, 'beta'));
    writeFileSync(join(dir, 'beta', 'index.mjs'), '');
    const c = config({ global_defs: { plugins_dir: dir }, plugins: { alpha: {}, beta: {}, gamma: {} } });
    const ds = inventoryCheck(builtinNames())(c, positions(['alpha', 'beta', 'gamma']));
    assert.deepEqual(
      ds.map((d) => d.field),
      ['plugins.gamma'],
    );
  });

  test('pluginSpecs refuses (throws), rather than skips, a user plugin named like a built-in', async () => {
    writeFileSync(join(dir, `${builtin}.ts`), '');
    try {
      await assert.rejects(pluginSpecs(config({ global_defs: { plugins_dir: dir } })), new RegExp(`plugin ${builtin}: user plugin .*${builtin}\\.ts has the name of the built-in plugin '${builtin}'`));
    } finally {
      rmSync(join(dir, `${builtin}.ts`));
    }
    // without it: alpha and beta, each placing its config problems in the config file
    const specs = (await pluginSpecs(config({ global_defs: { plugins_dir: dir } }), positions(['alpha']))).filter((s) => s.origin === 'user');
    assert.deepEqual(
      specs.map((s) => s.id),
      ['alpha', 'beta'],
    );
    assert.equal(specs[0]?.where?.(['weight']), 'cfg.yaml:10:3');
    assert.equal(specs[1]?.where?.(['weight']), 'cfg.yaml:9:1', 'no section: the nearest place there is');
  });
});
