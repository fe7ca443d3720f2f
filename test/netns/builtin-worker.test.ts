// The built daemon (bin/vigil running dist/, as installed) runs every built-in plugin in ONE
// worker thread (builtin-worker.ts). A copy of this checkout gets one more built-in, `faulty`,
// whose setup throws the first two times and whose handler then throws on every event, and is
// built with scripts/build.mjs; its daemon runs in a namespace with notify-script, track-script
// and track-file enabled by its config.
//
// Shown through `vigil status --json`: the four built-ins report the same thread; each started;
// their effects work (the track_file value and the failing track_script are in the priority, the
// notify script ran on MASTER); `faulty` fails its setup and is restarted, twice, in the same
// thread, then runs with its handler failing on every event (each event retried once, then
// dropped and reported: no more restarts), while the others are never restarted and keep their
// state (a later change of the file, and the script turning healthy, still move the priority
// from where it was).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControlStatus } from '../../src/control/socket.ts';
import { isRoot, withPair } from '../lib/netns.ts';
import { exited, follow } from '../lib/daemon.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const FAULTY_CONFIG = `// test-only built-in: runs when the config has a plugins.faulty section
export {};
`;
const FAULTY_INDEX = `import { z } from 'zod';
import { definePlugin } from '../../src/plugins/api.ts';

// (a module stays loaded in the shared thread: its count of setups survives a restart)
let setups = 0;

export default definePlugin({
  apiVersion: 1,
  name: 'faulty',
  configSchema: z.object({}),
  setup(ctx) {
    if (++setups <= 2) throw new Error('faulty setup ' + setups);
    ctx.on('*', (e) => {
      throw new Error('faulty on ' + e.type);
    });
  },
});
`;

/** This checkout's sources copied to `dir`, with the faulty built-in, built there. */
function buildCopy(dir: string): string {
  for (const part of ['package.json', 'tsconfig.json', 'bin', 'src', 'plugins', 'scripts']) {
    if (existsSync(join(ROOT, part))) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'plugins', 'faulty'));
  writeFileSync(join(dir, 'plugins', 'faulty', 'config.ts'), FAULTY_CONFIG);
  writeFileSync(join(dir, 'plugins', 'faulty', 'index.ts'), FAULTY_INDEX);
  execFileSync(process.execPath, [join(dir, 'scripts', 'build.mjs'), '--quiet'], { cwd: dir, stdio: 'inherit' });
  assert.ok(existsSync(join(dir, 'dist', 'builtin-worker.mjs')), 'the build has the shared worker');
  return join(dir, 'bin', 'vigil');
}

function config(dir: string): string {
  return `global_defs:
  script_user: root
vrrp_script:
  chk:
    script: /usr/bin/test -f ${join(dir, 'healthy')}
    interval: 1
    fall: 1
    rise: 1
    weight: -10
vrrp_track_file:
  tf:
    file: ${join(dir, 'tf')}
    weight: 1
vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 83
    priority: 100
    advert_int: 0.2
    version: 3
    virtual_ipaddress:
      - address: 192.0.2.100/24
    track_script:
      - name: chk
    track_file:
      - name: tf
    notify: ${join(dir, 'notify.sh')} ${join(dir, 'notify.log')}
plugins:
  faulty: {}
`;
}

function status(bin: string, pidFile: string): Promise<ControlStatus | undefined> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'status', '--json', '-p', pidFile], { timeout: 20_000 }, (err, stdout) => {
      resolve(err ? undefined : (JSON.parse(stdout) as ControlStatus));
    });
  });
}

async function until(bin: string, pidFile: string, what: string, ok: (s: ControlStatus) => boolean, ms = 30_000): Promise<ControlStatus> {
  const end = Date.now() + ms;
  let last: ControlStatus | undefined;
  while (Date.now() < end) {
    last = await status(bin, pidFile);
    if (last && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last?.plugins)} ${JSON.stringify(last?.engine.instances[0])}`);
}

const plugin = (s: ControlStatus, id: string) => s.plugins.find((p) => p.id === id);
const priority = (s: ControlStatus) => s.engine.instances.find((i) => i.name === 'VI_1')?.effectivePriority;
/** The built-ins the config enables (track-interface too: every instance tracks its interface). */
const OTHERS = ['notify-script', 'track-file', 'track-interface', 'track-script'];

test('the built daemon runs its built-ins in one worker thread; one that keeps failing restarts alone', { timeout: 180_000 }, async () => {
  assert.ok(isRoot, 'needs root (network namespaces)');
  await withPair(['bw', 'peer'], async ({ lab, dir, a }) => {
    const bin = buildCopy(join(dir, 'pkg'));
    writeFileSync(join(dir, 'notify.sh'), '#!/bin/sh\nlog="$1"; shift\necho "$@" >> "$log"\n');
    chmodSync(join(dir, 'notify.sh'), 0o755);
    writeFileSync(join(dir, 'tf'), '7\n');
    writeFileSync(join(dir, 'vigil.conf'), config(dir));
    const pidFile = join(dir, 'vigil.pid');
    const daemon = follow(lab.spawn(a, process.execPath, [bin, '-n', '-l', '-D', '-G', '-f', join(dir, 'vigil.conf'), '-p', pidFile]));

    // every built-in started, in one thread; the script failing (-10) and the file (7 x 1) count
    await daemon.waitFor(/\(VI_1\) Entering MASTER STATE/, 30_000);
    let s = await until(bin, pidFile, 'the built-ins running, their effects in the priority', (st) => OTHERS.every((id) => plugin(st, id)?.state === 'running') && priority(st) === 97);
    for (const id of OTHERS) assert.match(daemon.log(), new RegExp(`plugin ${id}: started`));
    const threads = new Set(s.plugins.map((p) => p.thread).filter((t) => t !== undefined));
    const tasks = readdirSync(`/proc/${s.daemon.enginePid}/task`).length;
    console.log(`built-in threads: ${[...threads].join(',')} (engine ${s.daemon.enginePid}: ${tasks} OS threads)`);
    assert.equal(threads.size, 1, `one worker thread for every built-in: ${JSON.stringify(s.plugins.map((p) => [p.id, p.thread]))}`);
    const [shared] = threads;
    await until(bin, pidFile, 'the notify script', () => existsSync(join(dir, 'notify.log')) && /INSTANCE VI_1 MASTER/.test(readFileSync(join(dir, 'notify.log'), 'utf8')), 10_000);

    // faulty fails its setup and is restarted with its back-off, alone; then it runs, and its
    // handler's failures drop events without restarting it
    s = await until(bin, pidFile, 'faulty restarted twice, running, its handler failing', (st) => (plugin(st, 'faulty')?.restarts ?? 0) >= 2 && plugin(st, 'faulty')?.state === 'running' && (plugin(st, 'faulty')?.handlerErrors ?? 0) >= 1, 60_000);
    assert.match(daemon.log(), /plugin faulty: failed \(setup\): Error: faulty setup 1/);
    // (never ready before, so its first good start is 'started', with restarts 2 in the status)
    assert.match(daemon.log(), /plugin faulty: started/);
    await daemon.waitFor(/plugin faulty: handler for [\w.]+ \(event \d+\) threw 2 times, event dropped: Error: faulty on /, 10_000);
    assert.equal(plugin(s, 'faulty')?.restarts, 2, 'a failing handler restarts nothing');
    const faultyThread = plugin(s, 'faulty')?.thread;
    if (faultyThread !== undefined) assert.equal(faultyThread, shared, 'restarted in the same shared thread');
    for (const p of s.plugins.filter((q) => q.id !== 'faulty')) {
      assert.equal(p.state, 'running', p.id);
      assert.equal(p.restarts, 0, `${p.id} was not restarted`);
      assert.equal(p.failures, 0, `${p.id} never failed`);
      assert.equal(p.thread, shared, `${p.id} still in the shared thread`);
    }

    // their state survived: the file's new value and the script's recovery move the priority on
    writeFileSync(join(dir, 'tf'), '20\n');
    await until(bin, pidFile, 'the new track_file value', (st) => priority(st) === 110);
    writeFileSync(join(dir, 'healthy'), '');
    s = await until(bin, pidFile, 'the script healthy again', (st) => priority(st) === 120);
    for (const p of s.plugins.filter((q) => q.id !== 'faulty')) assert.equal(p.restarts, 0, `${p.id} was not restarted`);
    assert.equal(plugin(s, 'faulty')?.restarts, 2, 'faulty, failing every event, was not restarted either');

    daemon.child.kill('SIGTERM');
    assert.equal(await exited(daemon.child), 0);
    assert.doesNotMatch(daemon.log(), /plugin (?!faulty)[\w-]+: failed/);
  });
});
