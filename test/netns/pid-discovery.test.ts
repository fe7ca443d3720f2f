// Pid files and finding the daemon, on real daemons in a namespace of their own (network and
// mount: /etc and /run are private to it, so /etc/vigil/vigil.yaml and /run/vigil.pid here are
// not the host's): the daemon scripts/install.sh's unit starts (-n -f /etc/vigil/vigil.yaml)
// writes /run/vigil.pid and /run/vigil_vrrp.pid and `vigil status`, `events` and `reload` find
// it with no flag; status names the pid to signal and the engine's; a daemon started with -p is
// found with that -p or with its -f; two daemons on one config do not fight over the default
// pid file; a stop removes what it wrote. Also the reload log: a file event that changes nothing
// is not a second rejection, and a removed plugin is said to be removed. Needs root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { follow, exited, type DaemonHandle } from '../lib/daemon.ts';
import type { ControlStatus } from '../../src/control/socket.ts';
import { needs } from '../lib/require.ts';

const bin = fileURLToPath(new URL('../../bin/vigil', import.meta.url));

const CONFIG = `vrrp_instance:
  VI_1:
    interface: vg0
    virtual_router_id: 51
    priority: 100
    virtual_ipaddress:
      - address: 192.0.2.100/24
`;

const PLUGIN = `
import { definePlugin } from 'vigil/plugin';
import { z } from 'zod';
export default definePlugin({ name: 'noop', configSchema: z.object({}), setup() {} });
`;

/** A process holding a new network and mount namespace with private /run and an /etc whose
 * changes stay in it (overlay on a tmpfs). */
async function namespace(dir: string): Promise<ChildProcess> {
  const ovl = join(dir, 'ovl');
  mkdirSync(ovl);
  const setup = [
    `mount -t tmpfs tmpfs ${ovl}`,
    `mkdir ${ovl}/up ${ovl}/work`,
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${ovl}/up,workdir=${ovl}/work /etc`,
    'mount -t tmpfs tmpfs /run',
    'mkdir -p /etc/vigil',
    'ip link set lo up',
    'echo ready',
    'exec sleep 600',
  ].join(' && ');
  const holder = spawn('unshare', ['-m', '-n', '--propagation', 'private', 'sh', '-c', setup], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout?.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`namespace setup failed (${code})`)));
  });
  return holder;
}

function inNs(holder: ChildProcess, cmd: string, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile('nsenter', ['-t', String(holder.pid), '-m', '-n', '--', cmd, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
    if (input !== undefined) c.stdin?.end(input);
  });
}

test('default pid files, vigil status/events/reload with no flag, -p found by -p or -f, two daemons on one config', { ...needs('root', 'ip', 'unshare', 'nsenter'), timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-pid-'));
  const holder = await namespace(dir);
  const started: DaemonHandle[] = [];
  const vigil = (args: string[]) => inNs(holder, process.execPath, [bin, ...args]);
  const cat = async (path: string) => (await inNs(holder, 'cat', [path])).stdout.trim();
  const daemon = (args: string[]) => {
    // nsenter execs the program in the namespaces: the child's pid is the daemon's
    const d = follow(spawn('nsenter', ['-t', String(holder.pid), '-m', '-n', '--', process.execPath, bin, '-n', '-l', '-D', '-G', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    started.push(d);
    return d;
  };
  const stop = async (d: DaemonHandle) => {
    if (d.child.exitCode === null) d.child.kill('SIGTERM');
    return exited(d.child);
  };
  try {
    // the installed unit's daemon: vigil -n -f /etc/vigil/vigil.yaml, a user plugin beside it
    const plugins = join(dir, 'plugins');
    mkdirSync(plugins, { mode: 0o755 });
    writeFileSync(join(plugins, 'noop.mjs'), PLUGIN);
    await inNs(holder, 'sh', ['-c', 'cat > /etc/vigil/vigil.yaml && chmod 600 /etc/vigil/vigil.yaml'], `global_defs:\n  plugins_dir: ${plugins}\n${CONFIG}`);
    const a = daemon(['-f', '/etc/vigil/vigil.yaml']);
    await a.waitFor(/control socket \/run\/vigil\/vigil\.sock/);
    const main = a.child.pid;
    assert.equal(Number(await cat('/run/vigil.pid')), main, '/run/vigil.pid: the supervisor');
    const engine = Number(await cat('/run/vigil_vrrp.pid'));
    assert.ok(engine > 0 && engine !== main, `/run/vigil_vrrp.pid: the engine (${engine})`);

    const st = await vigil(['status']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`^daemon pid ${main} \\(the supervisor: signal this one\\), engine pid ${engine}$`, 'm'));
    assert.match(st.stdout, /VI_1/);
    const json = JSON.parse((await vigil(['status', '--json'])).stdout) as ControlStatus;
    assert.deepEqual([json.daemon.mainPid, json.daemon.enginePid, json.daemon.supervised], [main, engine, true]);
    const same = await vigil(['status', '-f', '/etc/vigil/vigil.yaml']);
    assert.equal(same.code, 0, same.stderr);
    const rl = await vigil(['reload']);
    assert.equal(rl.code, 0, rl.stderr);
    assert.match(rl.stdout, /reload applied/);
    const ev = spawn('nsenter', ['-t', String(holder.pid), '-m', '-n', '--', process.execPath, bin, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const evs = follow(ev);
    await evs.waitFor(/following events on \/run\/vigil\/vigil\.sock/);
    ev.kill('SIGINT');
    await exited(ev);

    // a bad edit: one rejection, however many file events follow with the same content
    const bad = `global_defs:\n  plugins_dir: ${plugins}\n${CONFIG}    priority: [\n`;
    await inNs(holder, 'sh', ['-c', 'cat > /etc/vigil/vigil.yaml'], bad);
    await a.waitFor(/config file changed: reload rejected/);
    await inNs(holder, 'sh', ['-c', 'chmod 644 /etc/vigil/vigil.yaml && touch /etc/vigil/vigil.yaml && chmod 600 /etc/vigil/vigil.yaml']);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(a.log().match(/reload rejected/g)?.length, 1, a.log());
    await inNs(holder, 'sh', ['-c', 'cat > /etc/vigil/vigil.yaml'], `global_defs:\n  plugins_dir: ${plugins}\n${CONFIG}`);
    await a.waitFor(/config file changed: reloaded/);
    // a removed plugin file is said to be removed
    unlinkSync(join(plugins, 'noop.mjs'));
    await a.waitFor(/plugins directory changed: reloaded; .*plugins removed: noop/);

    // -p elsewhere: found by that -p, and by -f (a link at the config's own socket path)
    const bConf = join(dir, 'b.yaml');
    writeFileSync(bConf, CONFIG, { mode: 0o600 });
    const b = daemon(['-f', bConf, '-p', join(dir, 'b.pid')]);
    await b.waitFor(/control socket .*b\.sock \(also reached as \/run\/vigil\/b-[0-9a-f]{8}\.sock\)/);
    for (const flags of [['-p', join(dir, 'b.pid')], ['-f', bConf]]) {
      const r = await vigil(['status', '--json', ...flags]);
      assert.equal(r.code, 0, `${flags.join(' ')}: ${r.stderr}`);
      assert.equal((JSON.parse(r.stdout) as ControlStatus).daemon.mainPid, b.child.pid, flags.join(' '));
    }
    const ls = (await inNs(holder, 'ls', ['/run/vigil'])).stdout;
    assert.doesNotMatch(ls, /^b-.*\.pid$/m, 'with -p, no default pid files');

    // the same config twice (as in two network namespaces sharing /run): the second runs
    // without the default pid file instead of taking the first one's
    const cConf = join(dir, 'c.yaml');
    writeFileSync(cConf, CONFIG, { mode: 0o600 });
    const c1 = daemon(['-f', cConf]);
    await c1.waitFor(/control socket/);
    const stem = /\/run\/vigil\/(c-[0-9a-f]{8})\.sock/.exec(c1.log())?.[1];
    assert.ok(stem, c1.log());
    assert.equal(Number(await cat(`/run/vigil/${stem}.pid`)), c1.child.pid);
    const c2 = daemon(['-f', cConf]);
    await c2.waitFor(new RegExp(`no pid files: /run/vigil/${stem}\\.pid belongs to running process ${c1.child.pid}`));
    await c2.waitFor(/starting with 1 instance/);
    assert.equal(Number(await cat(`/run/vigil/${stem}.pid`)), c1.child.pid, 'still the first one\'s');
    assert.equal(await stop(c2), 0, c2.log());
    assert.equal(Number(await cat(`/run/vigil/${stem}.pid`)), c1.child.pid, 'the second does not remove it at stop');
    assert.equal(await stop(c1), 0);

    // a clean stop removes what it wrote: the pid files, and the link
    assert.equal(await stop(a), 0);
    assert.equal(await stop(b), 0);
    const left = (await inNs(holder, 'sh', ['-c', 'ls /run; ls /run/vigil'])).stdout;
    assert.doesNotMatch(left, /\.pid|\.sock/, left);
  } finally {
    for (const d of started) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    holder.kill();
    await exited(holder);
    rmSync(dir, { recursive: true, force: true });
  }
});
