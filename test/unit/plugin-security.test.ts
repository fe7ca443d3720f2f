// Issue 16: a user plugin runs as root, so every file it loads and every directory above them
// must be root's alone. Real files with real owners (root, nobody) in a fresh directory under
// /tmp (sticky, root's): a world-writable directory, a group-writable file, a file owned by
// another user, a symlink out of the directory to an unsafe file, a file that turns unsafe
// while the plugin runs, a plugin importing an unsafe sibling: each refused and reported, none
// of its code run, while a safe plugin next to them runs. Needs root (chown): fails otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EventOf } from '../../src/bus/events.ts';
import type { PluginSpec } from '../../src/plugins/host.ts';
import { userPluginFiles } from '../../src/plugins/loader.ts';
import { pluginFileProblem } from '../../src/plugins/plugin-security.ts';
import { rig, until } from '../lib/host-rig.ts';

const bin = fileURLToPath(new URL('../../bin/vigil', import.meta.url));
const NOBODY = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
const NOGROUP = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());

let base: string;

/** A plugin that leaves a mark when its module runs, and another when setup runs. */
const plugin = (name: string, imports = '') => `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
import { writeFileSync } from 'node:fs';
${imports}
writeFileSync((process.env.VIGIL_TEST_MARKS ?? '/nonexistent') + '/${name}', 'ran');
export default definePlugin({ name: '${name}', configSchema: z.object({}), setup(ctx) { ctx.adjustPriority('VI_1', 'alive', 1); } });
`;

function write(path: string, text: string, mode = 0o644, uid = 0, gid = 0): string {
  writeFileSync(path, text);
  chmodSync(path, mode);
  chownSync(path, uid, gid);
  return path;
}

/** A fresh plugins directory (root's, 0755) under `base`. */
function pluginsDir(name: string): string {
  const d = join(base, name);
  mkdirSync(d, { mode: 0o755 });
  chmodSync(d, 0o755);
  return d;
}

const spec = (id: string, entry: string): PluginSpec => ({ id, entry, config: undefined, origin: 'user', checkFiles: true });
const failures = (events: ReturnType<typeof rig>['events']) => events.filter((e): e is EventOf<'plugin.failed'> => e.type === 'plugin.failed');

before(() => {
  assert.equal(process.getuid?.(), 0, 'these tests need root (they chown files to nobody)');
  base = mkdtempSync('/tmp/vigil-plugin-security-');
  chmodSync(base, 0o755);
  const marks = join(base, 'marks');
  mkdirSync(marks);
  process.env.VIGIL_TEST_MARKS = marks;
});
after(() => rmSync(base, { recursive: true, force: true }));

describe('the rule (plugin-security.ts)', () => {
  test('a root-owned 0644 file in root-owned 0755 directories (under sticky /tmp) is safe', () => {
    const d = pluginsDir('rule-safe');
    assert.equal(pluginFileProblem(write(join(d, 'ok.ts'), 'x')), undefined);
    // group-writable by group root is root's alone, as keepalived accepts it
    assert.equal(pluginFileProblem(write(join(d, 'rootgroup.ts'), 'x', 0o664)), undefined);
  });

  test('a world-writable directory on the path', () => {
    const d = pluginsDir('rule-0777');
    const f = write(join(d, 'p.ts'), 'x');
    chmodSync(d, 0o777);
    const p = pluginFileProblem(f);
    assert.equal(p?.at, d);
    assert.match(p?.reason ?? '', /writable by others \(mode 0777\)/);
    // the sticky bit makes a world-writable directory safe (nobody replaces root's entries)
    chmodSync(d, 0o1777);
    assert.equal(pluginFileProblem(f), undefined);
  });

  test('a group-writable file of a group other than root', () => {
    const d = pluginsDir('rule-group');
    const p = pluginFileProblem(write(join(d, 'p.ts'), 'x', 0o664, 0, NOGROUP));
    assert.match(p?.reason ?? '', new RegExp(`writable by group ${NOGROUP} \\(mode 0664\\)`));
  });

  test('a file owned by another user, even read-only', () => {
    const d = pluginsDir('rule-owner');
    const p = pluginFileProblem(write(join(d, 'p.ts'), 'x', 0o444, NOBODY, NOGROUP));
    assert.match(p?.reason ?? '', new RegExp(`owned by uid ${NOBODY}, not root`));
  });

  test('a directory above owned by another user', () => {
    const d = pluginsDir('rule-dirowner');
    const f = write(join(d, 'p.ts'), 'x');
    chownSync(d, NOBODY, NOGROUP);
    assert.equal(pluginFileProblem(f)?.at, d);
  });

  test('a root-owned symlink out of the directory to an unsafe file', () => {
    const d = pluginsDir('rule-symlink');
    const outside = write(join(base, 'outside-unsafe.ts'), 'x', 0o666);
    symlinkSync(outside, join(d, 'p.ts'));
    const p = pluginFileProblem(join(d, 'p.ts'));
    assert.equal(p?.at, outside);
    assert.match(p?.reason ?? '', /writable by others .*resolves to/);
    // the same link to a safe file is fine
    const safe = write(join(base, 'outside-safe.ts'), 'x');
    symlinkSync(safe, join(d, 'q.ts'));
    assert.equal(pluginFileProblem(join(d, 'q.ts')), undefined);
  });
});

describe('the plugin host refuses unsafe plugins and runs the safe one next to them', () => {
  test('unsafe at start: nothing of them runs; each is reported with its path and reason', async () => {
    const d = pluginsDir('host-start');
    const marks = process.env.VIGIL_TEST_MARKS as string;
    write(join(d, 'safe.ts'), plugin('safe'));
    write(join(d, 'groupw.ts'), plugin('groupw'), 0o664, 0, NOGROUP);
    write(join(d, 'foreign.ts'), plugin('foreign'), 0o644, NOBODY, NOGROUP);
    const outside = write(join(base, 'evil-target.ts'), plugin('linked'), 0o666);
    symlinkSync(outside, join(d, 'linked.ts'));
    // an unsafe sibling module: the plugin itself is safe, what it imports is not
    write(join(d, '_helper.ts'), 'export const helper = 1;\n', 0o666);
    write(join(d, 'importer.ts'), plugin('importer', "import { helper } from './_helper.ts';\nif (helper !== 1) throw new Error('helper');"));
    assert.deepEqual(userPluginFiles(d).map((f) => f.id), ['foreign', 'groupw', 'importer', 'linked', 'safe']);

    const r = rig();
    try {
      r.host.apply(userPluginFiles(d).map((f) => spec(f.id, f.entry)), [], {});
      await r.host.ready();
      await until('safe started', () => r.host.status().find((s) => s.id === 'safe')?.state === 'running');
      await until('four refusals', () => failures(r.events).length >= 4);
      const byId = new Map(failures(r.events).map((e) => [e.plugin, e]));
      for (const [id, why] of [
        ['groupw', /groupw\.ts is writable by group/],
        ['foreign', /foreign\.ts is owned by uid/],
        ['linked', /evil-target\.ts is writable by others .*resolves to/],
        ['importer', /_helper\.ts is writable by others/],
      ] as const) {
        const e = byId.get(id);
        assert.equal(e?.cause, 'unsafe', id);
        assert.equal(e?.restartInMs, -1, id);
        assert.match(e?.error ?? '', why, id);
        const st = r.host.status().find((s) => s.id === id);
        assert.equal(st?.state, 'refused', id);
        assert.match(st?.lastError ?? '', why, id);
        assert.ok(r.lines.some((l) => l.startsWith(`error: plugin ${id}: refused: unsafe plugin file`)), `log line for ${id}`);
        assert.ok(!existsSync(join(marks, id)), `no code of ${id} ran`);
      }
      assert.ok(existsSync(join(marks, 'safe')), 'the safe plugin ran');
      assert.deepEqual(r.adjustments, [['safe', 'VI_1', 'alive', 1]]);
      // refused stays refused: no restart loop
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(failures(r.events).length, 4);
    } finally {
      await r.host.stop();
    }
  });

  test('a file that turns unsafe while the plugin runs stops it; a reload after the fix starts it again', async () => {
    const d = pluginsDir('host-chmod');
    const entry = write(join(d, 'watched.ts'), plugin('watched'));
    const sibling = write(join(d, '_lib.ts'), 'export const lib = 2;\n');
    const other = write(join(d, 'user.ts'), plugin('user', "import { lib } from './_lib.ts';\nif (lib !== 2) throw new Error('lib');"));
    const r = rig({ fileCheckMs: 100 });
    try {
      r.host.apply([spec('watched', entry), spec('user', other)], [], {});
      await r.host.ready();
      await until('both running', () => r.host.status().every((s) => s.state === 'running'));
      chmodSync(entry, 0o666);
      await until('watched refused', () => r.host.status().find((s) => s.id === 'watched')?.state === 'refused');
      // a module it imported counts as much as the plugin's own file
      chmodSync(sibling, 0o646);
      await until('user refused', () => r.host.status().find((s) => s.id === 'user')?.state === 'refused');
      const errs = failures(r.events).map((e) => `${e.plugin}: ${e.error}`);
      assert.match(errs[0] ?? '', /^watched: unsafe plugin file .*watched\.ts is writable by others \(mode 0666\)/);
      assert.match(errs[1] ?? '', /^user: unsafe plugin file .*_lib\.ts is writable by others \(mode 0646\)/);
      // an edit of a refused plugin is no way in: it is checked again, and refused again
      r.host.reloadFile('watched');
      await until('refused again', () => failures(r.events).length === 3);
      assert.equal(r.host.status().find((s) => s.id === 'watched')?.state, 'refused');
      // fixed, and reloaded: it runs again
      chmodSync(entry, 0o644);
      chmodSync(sibling, 0o644);
      r.host.apply([spec('watched', entry), spec('user', other)], [], {});
      await until('both running again', () => r.host.status().every((s) => s.state === 'running'));
    } finally {
      await r.host.stop();
    }
  });

  test('allow_unsafe_plugins (checkFiles off) loads it, loudly', async () => {
    const d = pluginsDir('host-optout');
    const entry = write(join(d, 'dev.ts'), plugin('dev'), 0o666);
    const r = rig();
    try {
      r.host.apply([{ ...spec('dev', entry), checkFiles: false }], [], {});
      await r.host.ready();
      await until('running', () => r.host.status()[0]?.state === 'running');
      assert.ok(r.lines.some((l) => /^warn: plugin dev: SECURITY: allow_unsafe_plugins is set.*dev\.ts is writable by others/.test(l)), r.lines.join('\n'));
    } finally {
      await r.host.stop();
    }
  });
});

describe('vigil -t', () => {
  test('reports every unsafe plugin as an error with its file, and passes a safe directory', () => {
    const d = pluginsDir('cli');
    write(join(d, 'safe.ts'), plugin('safe'));
    write(join(d, '_helper.ts'), 'export const helper = 1;\n', 0o666);
    write(join(d, 'importer.ts'), plugin('importer', "import { helper } from './_helper.ts';\nif (helper !== 1) throw new Error('helper');"));
    write(join(d, 'foreign.ts'), plugin('foreign'), 0o644, NOBODY, NOGROUP);
    const cfg = (extra = '') =>
      write(
        join(base, 'cli.yaml'),
        `global_defs:\n  plugins_dir: ${d}\n${extra}vrrp_instance:\n  VI_1: { interface: eth0, virtual_router_id: 51, priority: 100, virtual_ipaddress: [ { address: 192.0.2.10/24 } ] }\n`,
      );
    let r = spawnSync(process.execPath, [bin, '-t', '-f', cfg()], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${d}/importer\\.ts:1:1: global_defs\\.plugins_dir: plugin importer: unsafe plugin file ${d}/_helper\\.ts is writable by others`));
    assert.match(r.stderr, new RegExp(`${d}/foreign\\.ts:1:1: global_defs\\.plugins_dir: plugin foreign: unsafe plugin file .* owned by uid ${NOBODY}`));
    assert.doesNotMatch(r.stderr, /plugin safe:/);
    assert.match(r.stderr, /invalid YAML configuration \(2 errors/);
    // a world-writable plugins directory is said once, for the directory
    chmodSync(d, 0o777);
    r = spawnSync(process.execPath, [bin, '-t', '-f', cfg()], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${d}:1:1: global_defs\\.plugins_dir: plugins directory ${d} is writable by others \\(mode 0777\\).*every plugin in it is refused`));
    assert.match(r.stderr, /\(1 error,/);
    // the development opt-out turns them into warnings
    r = spawnSync(process.execPath, [bin, '-t', '-f', cfg('  allow_unsafe_plugins: true\n')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: plugins directory .* loaded anyway \(allow_unsafe_plugins\)/);
    // fixed: valid
    chmodSync(d, 0o755);
    rmSync(join(d, 'foreign.ts'));
    chmodSync(join(d, '_helper.ts'), 0o644);
    r = spawnSync(process.execPath, [bin, '-t', '-f', cfg()], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /valid YAML configuration \(0 errors/);
  });

  test('checks plugin_user: a user that exists, a user plugin (not a built-in); keepalived.conf reaches it too', () => {
    const d = pluginsDir('cli-users');
    write(join(d, 'watcher.ts'), plugin('watcher'));
    const conf = write(
      join(base, 'users.conf'),
      `global_defs {\n  plugins_dir ${d}\n  plugin_user watcher nobody\n  plugin_user notify-script nobody\n  plugin_user ghost no-such-user-here\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    192.0.2.10/24\n  }\n}\n`,
    );
    const r = spawnSync(process.execPath, [bin, '-t', '-f', conf], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /global_defs\.plugin_user\.notify-script: 'notify-script' is a built-in plugin/);
    // an entry naming no plugin is an error: the plugin meant would run as root
    assert.match(r.stderr, /global_defs\.plugin_user\.ghost: no user plugin 'ghost': no ghost\.ts\|\.mts\|\.js\|\.mjs or ghost\/index\.\* in /);
    assert.match(r.stderr, /global_defs\.plugin_user\.ghost: user no-such-user-here does not exist/);
    assert.doesNotMatch(r.stderr, /plugin_user\.watcher/);
    // -t loads watcher to check its config, as nobody: its module's first line (a mark written
    // into a directory only root may write to) fails, as it would in the daemon
    assert.match(r.stderr, new RegExp(`${d}/watcher\\.ts:1:1: global_defs\\.plugins_dir: plugin watcher: it does not load: EACCES: permission denied`));
    assert.equal(existsSync(join(base, 'marks', 'watcher')), false, 'nothing of it ran as root');
    const yaml = spawnSync(process.execPath, [bin, 'convert', conf], { encoding: 'utf8' });
    assert.match(yaml.stdout, /plugin_user:\n\s+watcher: nobody\n/);
  });

  test('loads each user plugin and validates its section with its own schema, at file:line:col; a missing plugin, a built-in name, a module that is no plugin: errors', () => {
    const d = pluginsDir('cli-schema');
    write(
      join(d, 'file-prio.ts'),
      `import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({
  apiVersion: 1,
  name: 'file-prio',
  configSchema: z.object({ weight: z.number().int().max(0), file: z.string().default('/run/prio') }),
  setup() {},
});
`,
    );
    const cfg = write(join(base, 'cfg.yaml'), '');
    const conf = (plugins: string) =>
      write(
        cfg,
        `global_defs:\n  plugins_dir: ${d}\nvrrp_instance:\n  VI_1: { interface: eth0, virtual_router_id: 51, priority: 100, virtual_ipaddress: [ { address: 192.0.2.10/24 } ] }\nplugins:\n${plugins}`,
      );
    const t = () => spawnSync(process.execPath, [bin, '-t', '-f', cfg], { encoding: 'utf8' });

    // the schema's own words, at the field's place in the config file
    conf('  file-prio:\n    weight: 5\n');
    let r = t();
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${cfg}:7:13: plugins\\.file-prio\\.weight: Too big: expected number to be <=0$`, 'm'));
    assert.match(r.stderr, /invalid YAML configuration \(1 error,/);
    // a missing required field: at the section (where its content starts)
    conf('  file-prio:\n    file: /tmp/x\n');
    r = t();
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${cfg}:7:5: plugins\\.file-prio\\.weight: Invalid input: expected number, received undefined$`, 'm'));
    conf('  file-prio:\n    weight: -5\n');
    r = t();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /valid YAML configuration \(0 errors, 0 warnings\)/);

    // a section no plugin reads
    conf('  file-prio:\n    weight: -5\n  ghost:\n    x: 1\n');
    r = t();
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${cfg}:9:5: plugins\\.ghost: no plugin ghost: not a built-in \\(.*webhook.*\\) and no ghost\\.ts\\|\\.mts\\|\\.js\\|\\.mjs or ghost/index\\.\\* in ${d}$`, 'm'));

    // a user plugin with a built-in's name is never skipped in silence
    conf('  file-prio:\n    weight: -5\n');
    write(join(d, 'webhook.ts'), plugin('webhook'));
    r = t();
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${d}/webhook\\.ts:1:1: global_defs\\.plugins_dir: user plugin ${d}/webhook\\.ts has the name of the built-in plugin 'webhook': built-ins cannot be replaced; rename`, 'm'));
    rmSync(join(d, 'webhook.ts'));

    // modules that are no plugin, or not the plugin their file says
    write(join(d, 'helper.ts'), 'export const x = 1;\n');
    write(join(d, 'misnamed.ts'), plugin('other-name'));
    write(join(d, 'boom.ts'), "throw new Error('boom at load');\n");
    r = t();
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${d}/helper\\.ts:1:1: global_defs\\.plugins_dir: plugin helper: it does not load: not a plugin: the module has no default export`, 'm'));
    assert.match(r.stderr, new RegExp(`^${d}/misnamed\\.ts:1:1: global_defs\\.plugins_dir: plugin misnamed: ${d}/misnamed\\.ts is named 'other-name'`, 'm'));
    assert.match(r.stderr, new RegExp(`^${d}/boom\\.ts:1:1: global_defs\\.plugins_dir: plugin boom: it does not load: boom at load`, 'm'));
    assert.match(r.stderr, /\(3 errors,/);
  });
});
