// Issue 16, privilege separation on the wire: node A runs a user plugin as `nobody`
// (global_defs.plugin_user), in a process of its own. The plugin cannot write a root-only file
// (the write fails with EACCES, seen in the daemon's log), its commands run as nobody, yet its
// priority adjustment still moves the VIP: when it is told to demote A, B preempts and takes
// the address; told to stop, A takes it back. Its process is nobody's (checked in /proc), and
// an unsafe plugin file beside it is refused while it runs. Needs root: fails otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPair, type Lab } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';

const NOBODY = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());

const watcher = (dir: string) => `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
import { existsSync, writeFileSync } from 'node:fs';
export default definePlugin({
  name: 'watcher',
  configSchema: z.object({ weight: z.number().default(-60) }),
  async setup(ctx) {
    try {
      writeFileSync(${JSON.stringify(join(dir, 'root-only', 'owned.txt'))}, 'pwned');
      ctx.log.info('root-only write succeeded');
    } catch (e) {
      ctx.log.info('root-only write failed: ' + (e as NodeJS.ErrnoException).code);
    }
    const id = await ctx.run(['/usr/bin/id', '-u']);
    ctx.log.info('commands run as uid ' + id.stdout + ', plugin as uid ' + process.getuid());
    let demoted = false;
    const timer = setInterval(() => {
      const want = existsSync(${JSON.stringify(join(dir, 'demote'))});
      if (want === demoted) return;
      demoted = want;
      ctx.adjustPriority('VI_1', 'demote', want ? ctx.config.weight : 0);
    }, 100);
    ctx.onStop(() => clearInterval(timer));
  },
});
`;

const config = (node: 'a' | 'b', dir: string) => `global_defs:
${node === 'a' ? `  plugins_dir: ${join(dir, 'plugins')}\n  plugin_user:\n    watcher: nobody\n` : '  router_id: b\n'}vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 73
    priority: ${node === 'a' ? 150 : 100}
    advert_int: 1
    virtual_ipaddress:
      - address: 192.0.2.100/24
${node === 'a' ? 'plugins:\n  watcher:\n    weight: -60\n' : ''}`;

async function until(what: string, fn: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const holds = (lab: Lab, ns: string) => addressesOf(lab, ns, 'eth0').includes('192.0.2.100/24');

/** Processes whose parent is `ppid`, with their real uid. */
function childrenOf(ppid: number): Array<{ pid: number; uid: number; cmd: string }> {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue;
    }
    if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== ppid) continue;
    const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
    out.push({ pid: Number(name), uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]), cmd });
  }
  return out;
}

test('a plugin running as nobody cannot write a root-only file, and its priority adjustment still moves the VIP', { timeout: 120_000 }, async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (network namespaces, plugin_user)');
  await withPair(['a', 'b'], async ({ lab, dir, a, b }) => {
    // nobody may pass through the test directory (to see the demote file), not write in it
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'root-only'), { mode: 0o755 });
    mkdirSync(join(dir, 'plugins'), { mode: 0o755 });
    writeFileSync(join(dir, 'plugins', 'watcher.ts'), watcher(dir), { mode: 0o644 });
    writeFileSync(join(dir, 'a.yaml'), config('a', dir));
    writeFileSync(join(dir, 'b.yaml'), config('b', dir));

    const va = startVigil(lab, a, join(dir, 'a.yaml'));
    await va.waitFor(/\(VI_1\) Entering MASTER STATE/);
    await va.waitFor(/plugin watcher: started/);
    const vb = startVigil(lab, b, join(dir, 'b.yaml'));
    await vb.waitFor(/\(VI_1\) Entering BACKUP STATE/);
    await until('A holds the VIP', () => holds(lab, a));

    // the write as nobody failed; nothing was written; commands run as nobody too
    assert.match(va.log(), /plugin watcher: root-only write failed: EACCES/);
    assert.ok(!existsSync(join(dir, 'root-only', 'owned.txt')), 'the root-only file was not written');
    assert.match(va.log(), new RegExp(`plugin watcher: commands run as uid ${NOBODY}, plugin as uid ${NOBODY}`));

    // its process is nobody's; no other plugin process runs as root
    const engines = va.child.pid ? childrenOf(va.child.pid) : [];
    const plugins = engines.flatMap((e) => childrenOf(e.pid)).concat(engines).filter((p) => p.cmd.includes('.mjs'));
    assert.ok(plugins.length >= 1, `found the plugin process among ${JSON.stringify(engines)}`);
    for (const p of plugins) assert.equal(p.uid, NOBODY, `plugin process ${p.pid} (${p.cmd}) runs as nobody`);

    // the plugin demotes A: 150 - 60 = 90 < 100, B preempts
    writeFileSync(join(dir, 'demote'), '');
    await va.waitFor(/\(VI_1\) priority 150 -> 90 \(watcher:demote\)/);
    await vb.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=preempted/);
    await until('B holds the VIP, A does not', () => holds(lab, b) && !holds(lab, a));

    // an unsafe plugin dropped beside it is refused, while the watcher keeps running
    writeFileSync(join(dir, 'plugins', 'evil.ts'), "export default { name: 'evil', setup() {} };\n", { mode: 0o666 });
    chmodSync(join(dir, 'plugins', 'evil.ts'), 0o666);
    await va.waitFor(/plugin evil: refused: unsafe plugin file \S+evil\.ts is writable by others \(mode 0666\)/);

    // and lifts it: A preempts back
    rmSync(join(dir, 'demote'));
    await va.waitFor(/\(VI_1\) priority 90 -> 150/);
    await until('A holds the VIP again', () => holds(lab, a) && !holds(lab, b));
    assert.doesNotMatch(va.log(), /plugin watcher: (failed|refused)/);

    // an invalid section (the daemon's load does not know a user plugin's schema; its process
    // does): said once, at its place in a.yaml, with one prefix; fixed by the next edit
    const aYaml = join(dir, 'a.yaml');
    writeFileSync(aYaml, config('a', dir).replace('weight: -60', 'weight: heavy'));
    await va.waitFor(new RegExp(`plugin watcher: invalid config: ${aYaml}:15:13: plugins\\.watcher\\.weight: Invalid input: expected number, received string`));
    assert.doesNotMatch(va.log(), /plugin watcher: plugin watcher:/);
    const starts = () => va.log().match(/plugin watcher: started/g)?.length ?? 0;
    const before = starts();
    writeFileSync(aYaml, config('a', dir));
    await until('the watcher runs again', () => starts() > before);

    va.child.kill('SIGTERM');
    vb.child.kill('SIGTERM');
    assert.equal(await exited(va.child), 0);
    assert.equal(await exited(vb.child), 0);
  });
});
