// notify-fifo on real FIFOs: keepalived's line format, the FIFO created when missing, lines kept
// in order while no reader is attached (even beyond the pipe's capacity), the reader script
// started with the FIFO path and ended at stop, and refusal of a path that is not a FIFO.
// A root daemon must not write where a user points it: links, planted files, others' FIFOs and
// FIFOs in directories others can change are refused (real owners: chown to nobody).
// The load balancer's VS / RS lines go to notify_fifo and lvs_notify_fifo, not vrrp_notify_fifo.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import plugin from '../../plugins/notify-fifo/index.ts';
import { configSchema as schema } from '../../plugins/notify-fifo/config.ts';
import { deriveNotifyFifo as derive, splitCommand } from '../../src/config/plugin-sections/notify-fifo.ts';
import { configSchema } from '../../src/config/schema.ts';
import { startPlugin, transition, type Harness } from '../lib/plugin-harness.ts';
import { needs } from '../lib/require.ts';

let h: Harness | undefined;
let dir: string | undefined;
const readers: ChildProcess[] = [];
afterEach(async () => {
  await h?.stop();
  h = undefined;
  for (const r of readers.splice(0)) if (r.exitCode === null && r.signalCode === null) r.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function tempDir(): string {
  dir = mkdtempSync(join(tmpdir(), 'vigil-notify-fifo-'));
  return dir;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A real reader: `cat FIFO`, its output collected. */
function attachReader(path: string): { out: () => string; child: ChildProcess } {
  const child = spawn('cat', [path], { stdio: ['ignore', 'pipe', 'inherit'] });
  readers.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return { out: () => out, child };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('splitCommand and the derivation: both FIFOs, scripts as argv, script_user; undefined without a FIFO', () => {
  assert.deepEqual(splitCommand(`/usr/bin/reader --tag "a b" 'c'`), ['/usr/bin/reader', '--tag', 'a b', 'c']);
  const cfg = configSchema.parse({
    global_defs: {
      notify_fifo: '/run/k.fifo',
      notify_fifo_script: '/usr/local/bin/fifo-reader -v',
      vrrp_notify_fifo: '/run/v.fifo',
      script_user: 'nobody nogroup',
    },
  });
  assert.deepEqual(schema.parse(derive(cfg)), {
    fifos: [{ path: '/run/k.fifo', script: ['/usr/local/bin/fifo-reader', '-v'], user: 'nobody', group: 'nogroup' }, { path: '/run/v.fifo', lines: ['vrrp'] }],
    priority_changes: [],
    queue_limit: 10_000,
  });
  assert.deepEqual(derive(configSchema.parse({ global_defs: { notify_fifo: '/run/same', vrrp_notify_fifo: '/run/same' } })), { fifos: [{ path: '/run/same' }] });
  assert.equal(derive(configSchema.parse({})), undefined);
});

test('creates the FIFO, writes keepalived lines while no reader is attached, a late reader gets them in order; removed at stop', async () => {
  const path = join(tempDir(), 'vrrp.fifo');
  h = await startPlugin(plugin, { fifos: [{ path }], priority_changes: ['VI_1'] });
  assert.ok(lstatSync(path).isFIFO());
  assert.equal(lstatSync(path).mode & 0o777, 0o644);

  h.emit(transition('VI_1', 'initialize', 'backup', 100));
  h.emit({ type: 'group.transition', group: 'G1', from: 'initialize', to: 'backup', reason: 'member', instance: 'VI_1' });
  h.emit(transition('VI_1', 'backup', 'master', 100));
  h.emit({ type: 'instance.priority', instance: 'VI_1', base: 100, previous: 100, effective: 90, cause: 'track-file:x', adjustments: { 'track-file:x': -10 } });
  h.emit(transition('VI_1', 'master', 'fault', 90));
  h.emit({ type: 'instance.priority', instance: 'VI_1', base: 100, previous: 90, effective: 100, cause: 'track-file:x', adjustments: {} });
  h.emit({ type: 'instance.transition', instance: 'VI_1', vrid: 51, interface: 'eth0', from: 'fault', to: 'initialize', reason: 'shutdown', priority: 100 });
  h.emit({ type: 'group.transition', group: 'G1', from: 'backup', to: 'initialize', reason: 'shutdown' });
  // not one of keepalived's states: nothing written
  h.emit({ type: 'instance.transition', instance: 'VI_2', vrid: 52, interface: 'eth0', from: 'backup', to: 'initialize', reason: 'fault-cleared', priority: 100 });
  await h.idle();

  const reader = attachReader(path);
  const expected = [
    'INSTANCE "VI_1" BACKUP 100',
    'GROUP "G1" BACKUP 0',
    'INSTANCE "VI_1" MASTER 100',
    'INSTANCE "VI_1" MASTER_PRIORITY 90',
    'INSTANCE "VI_1" FAULT 90',
    'INSTANCE "VI_1" BACKUP_PRIORITY 100',
    'INSTANCE "VI_1" STOP 100',
    'GROUP "G1" STOP 0',
  ].join('\n') + '\n';
  await waitFor('the reader to get every line', () => reader.out().length >= expected.length);
  assert.equal(reader.out(), expected);

  // a live reader gets later lines as they happen
  h.emit(transition('VI_1', 'initialize', 'backup', 100));
  await waitFor('one more line', () => reader.out().endsWith('INSTANCE "VI_1" BACKUP 100\n') && reader.out().length > expected.length);

  await h.stop();
  h = undefined;
  assert.equal(existsSync(path), false, 'a FIFO we created is removed at stop');
  // our end closed: cat sees EOF
  await waitFor('reader EOF', () => reader.child.exitCode !== null);
});

test('never blocks when nobody reads: beyond the pipe capacity lines wait in the queue, in order', async () => {
  const path = join(tempDir(), 'full.fifo');
  h = await startPlugin(plugin, { fifos: [{ path }] });
  const n = 4000; // ~110 KB: more than a 64 KiB pipe holds
  const started = Date.now();
  for (let i = 0; i < n; i++) h.emit(transition(`VI_${i}`, 'backup', 'master', 100));
  await h.idle();
  assert.ok(Date.now() - started < 5000, 'handlers did not wait for a reader');
  const reader = attachReader(path);
  await waitFor('all lines', () => reader.out().split('\n').length - 1 >= n);
  const lines = reader.out().trimEnd().split('\n');
  assert.equal(lines.length, n);
  for (let i = 0; i < n; i++) assert.equal(lines[i], `INSTANCE "VI_${i}" MASTER 100`);
});

test('a full queue drops its oldest lines with a warning; the newest still arrive', async () => {
  const path = join(tempDir(), 'drop.fifo');
  h = await startPlugin(plugin, { fifos: [{ path }], queue_limit: 10 });
  const n = 4000;
  for (let i = 0; i < n; i++) h.emit(transition(`VI_${i}`, 'backup', 'master', 100));
  await h.idle();
  await waitFor('the drop warning', () => h!.recorded.logs.some((l) => l.level === 'warn' && /full and unread: dropping the oldest lines/.test(l.msg)));
  const reader = attachReader(path);
  await waitFor('the last line', () => reader.out().endsWith(`INSTANCE "VI_${n - 1}" MASTER 100\n`));
  const lines = reader.out().trimEnd().split('\n');
  assert.ok(lines.length < n, `some lines were dropped (${lines.length})`);
  assert.equal(lines[0], 'INSTANCE "VI_0" MASTER 100');
  // the last 10 are exactly the newest ones, in order
  assert.deepEqual(lines.slice(-10), Array.from({ length: 10 }, (_, k) => `INSTANCE "VI_${n - 10 + k}" MASTER 100`));
});

test('notify_fifo_script runs with the FIFO path as last argument, reads the lines, and is ended at stop', async () => {
  const d = tempDir();
  const path = join(d, 'script.fifo');
  const out = join(d, 'out.txt');
  const script = join(d, 'reader.sh');
  writeFileSync(script, `#!/bin/sh\necho "args: $1 $2" > "${out}"\nexec cat "$2" >> "${out}"\n`);
  chmodSync(script, 0o755);
  h = await startPlugin(plugin, { fifos: [{ path, script: [script, 'tag'] }] });
  await waitFor('script started', () => h!.recorded.logs.some((l) => /started notify fifo script/.test(l.msg)));
  const pid = Number(/\(pid (\d+)\)/.exec(h.recorded.logs.find((l) => /started notify fifo script/.test(l.msg))?.msg ?? '')?.[1]);
  assert.ok(pid > 0);

  h.emit(transition('VI_1', 'initialize', 'backup', 100));
  h.emit(transition('VI_1', 'backup', 'master', 100));
  const want = `args: tag ${path}\nINSTANCE "VI_1" BACKUP 100\nINSTANCE "VI_1" MASTER 100\n`;
  await waitFor('script output', () => existsSync(out) && readFileSync(out, 'utf8') === want);

  await h.stop();
  h = undefined;
  assert.equal(alive(pid), false, 'the script was ended');
});

test('a path that exists but is not a FIFO is refused and left alone', async () => {
  const path = join(tempDir(), 'plain');
  writeFileSync(path, 'keep me\n');
  h = await startPlugin(plugin, { fifos: [{ path }] });
  assert.ok(h.recorded.logs.some((l) => l.level === 'error' && /is not a fifo we own - not using/.test(l.msg)));
  h.emit(transition('VI_1', 'backup', 'master', 100));
  await h.idle();
  await h.stop();
  h = undefined;
  assert.equal(readFileSync(path, 'utf8'), 'keep me\n');
});

const NOBODY = 65534;
const asRoot = needs('root', 'user:nobody'); // they chown to nobody
const errors = (hh: Harness) => hh.recorded.logs.filter((l) => l.level === 'error').map((l) => l.msg);

/** Starts the plugin on `path`, sends a transition, stops: what the log said. */
async function tryFifo(fifo: { path: string; user?: string }): Promise<Harness> {
  const hh = await startPlugin(plugin, { fifos: [fifo] });
  h = hh;
  hh.emit(transition('VI_1', 'backup', 'master', 100));
  await hh.idle();
  await hh.stop();
  h = undefined;
  return hh;
}

test('a symbolic link in place of the FIFO (to /etc/passwd, say) is never followed: the target is untouched', async () => {
  const d = tempDir();
  const target = join(d, 'passwd');
  writeFileSync(target, 'root:x:0:0::/root:/bin/sh\n');
  const path = join(d, 'vrrp.fifo');
  symlinkSync(target, path);
  const hh = await tryFifo({ path });
  assert.deepEqual(errors(hh), [`notify fifo ${path} is not a fifo we own - not using (a symbolic link: never followed)`]);
  assert.equal(readFileSync(target, 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
  assert.ok(lstatSync(path).isSymbolicLink(), 'the link is left where it is');
  // a link to a real FIFO of ours is refused as well (O_NOFOLLOW, as keepalived opens it)
  const real = join(d, 'real.fifo');
  execFileSync('mkfifo', ['-m', '0644', real]);
  rmSync(path);
  symlinkSync(real, path);
  assert.deepEqual(errors(await tryFifo({ path })), [`notify fifo ${path} is not a fifo we own - not using (a symbolic link: never followed)`]);
});

test('a regular file planted by another user, and a FIFO owned by another user, are refused', { ...asRoot }, async () => {
  const d = tempDir();
  const path = join(d, 'vrrp.fifo');
  writeFileSync(path, 'planted\n');
  chownSync(path, NOBODY, NOBODY);
  assert.deepEqual(errors(await tryFifo({ path })), [`notify fifo ${path} is not a fifo we own - not using (a regular file owned by uid ${NOBODY})`]);
  assert.equal(readFileSync(path, 'utf8'), 'planted\n');
  rmSync(path);
  execFileSync('mkfifo', ['-m', '0644', path]);
  chownSync(path, NOBODY, NOBODY);
  assert.deepEqual(errors(await tryFifo({ path })), [`notify fifo ${path} is not a fifo we own - not using (a fifo owned by uid ${NOBODY})`]);
  assert.ok(existsSync(path), 'not ours: not removed');
  // ... unless it is the script user's (keepalived accepts a FIFO owned by that user)
  assert.deepEqual(errors(await tryFifo({ path, user: 'nobody' })), []);
});

test('a FIFO in a directory others can write to without the sticky bit, or owned by another user, is refused; a sticky one is fine', { ...asRoot }, async () => {
  const d = tempDir();
  const path = join(d, 'vrrp.fifo');
  chmodSync(d, 0o777);
  assert.deepEqual(errors(await tryFifo({ path })), [
    `notify fifo ${path} is in a directory others can change - not using (${d} is writable by others (mode 0777) without the sticky bit: they could replace the fifo)`,
  ]);
  assert.equal(existsSync(path), false, 'not even created there');
  chmodSync(d, 0o755);
  chownSync(d, NOBODY, NOBODY);
  assert.deepEqual(errors(await tryFifo({ path })), [`notify fifo ${path} is in a directory others can change - not using (${d} is owned by uid ${NOBODY}: they could replace the fifo)`]);
  chownSync(d, 0, 0);
  chmodSync(d, 0o1777);
  const hh = await startPlugin(plugin, { fifos: [{ path }] });
  h = hh;
  assert.deepEqual(errors(hh), []);
  assert.ok(lstatSync(path).isFIFO());
});

test('a FIFO created for a script user is 0644 and given to that user (on the open FIFO); a FIFO others can write to is used with a warning', { ...asRoot }, async () => {
  const d = tempDir();
  const path = join(d, 'vrrp.fifo');
  h = await startPlugin(plugin, { fifos: [{ path, user: 'nobody' }] });
  const st = lstatSync(path);
  assert.ok(st.isFIFO());
  assert.equal(st.mode & 0o777, 0o644);
  assert.equal(st.uid, NOBODY);
  await h.stop();
  h = undefined;
  assert.equal(existsSync(path), false, 'ours (created): removed at stop');

  execFileSync('mkfifo', ['-m', '0666', path]);
  h = await startPlugin(plugin, { fifos: [{ path }] });
  assert.ok(h.recorded.logs.some((l) => l.level === 'warn' && l.msg === `notify fifo ${path} is writable by others (mode 0666): anyone could feed its reader false state lines; chmod 0644 ${path}`));
  const reader = attachReader(path);
  h.emit(transition('VI_1', 'backup', 'master', 100));
  await waitFor('the line', () => reader.out() === 'INSTANCE "VI_1" MASTER 100\n');
});

test('the derivation: lvs_notify_fifo (+ script) takes the LVS lines, notify_fifo every line; one path named twice gets both kinds once', () => {
  const cfg = configSchema.parse({
    global_defs: { notify_fifo: '/run/k.fifo', vrrp_notify_fifo: '/run/v.fifo', lvs_notify_fifo: '/run/l.fifo', lvs_notify_fifo_script: '/usr/local/bin/lvs-reader "x y"', script_user: 'nobody' },
  });
  assert.deepEqual(derive(cfg), {
    fifos: [{ path: '/run/k.fifo' }, { path: '/run/v.fifo', lines: ['vrrp'] }, { path: '/run/l.fifo', script: ['/usr/local/bin/lvs-reader', 'x y'], user: 'nobody', lines: ['lvs'] }],
  });
  assert.deepEqual(derive(configSchema.parse({ global_defs: { lvs_notify_fifo: '/run/l.fifo' } })), { fifos: [{ path: '/run/l.fifo', lines: ['lvs'] }] });
  assert.deepEqual(derive(configSchema.parse({ global_defs: { vrrp_notify_fifo: '/run/same', lvs_notify_fifo: '/run/same' } })), { fifos: [{ path: '/run/same' }] });
  assert.deepEqual(derive(configSchema.parse({ global_defs: { notify_fifo: '/run/same', lvs_notify_fifo: '/run/same' } })), { fifos: [{ path: '/run/same' }] });
});

test('LVS lines: VS UP/DOWN and RS UP/DOWN (inhibited is DOWN, FWM 5 as keepalived writes it) on notify_fifo and lvs_notify_fifo; none on vrrp_notify_fifo', async () => {
  const d = tempDir();
  const all = join(d, 'notify.fifo');
  const vrrp = join(d, 'vrrp.fifo');
  const lvs = join(d, 'lvs.fifo');
  h = await startPlugin(plugin, { fifos: [{ path: all }, { path: vrrp, lines: ['vrrp'] }, { path: lvs, lines: ['lvs'] }] });
  const readAll = attachReader(all);
  const readVrrp = attachReader(vrrp);
  const readLvs = attachReader(lvs);
  const VS = '[192.0.2.100]:tcp:80';
  const RS = '[198.51.100.10]:tcp:8080';
  h.emit({ type: 'virtualserver.quorum', virtualServer: VS, up: true, weight: 1, quorum: 1, hysteresis: 0, sorryServer: false });
  h.emit(transition('VI_1', 'backup', 'master', 100));
  h.emit({ type: 'realserver.down', virtualServer: VS, realServer: RS, reason: 'TCP_CHECK 198.51.100.10:8080: connection refused', inhibited: false });
  h.emit({ type: 'virtualserver.quorum', virtualServer: VS, up: false, weight: 0, quorum: 1, hysteresis: 0, sorryServer: false });
  h.emit({ type: 'realserver.up', virtualServer: VS, realServer: RS, weight: 1, reason: 'TCP_CHECK 198.51.100.10:8080: connected' });
  h.emit({ type: 'realserver.down', virtualServer: 'FWM 5', realServer: '[198.51.100.12]:none:0', reason: 'TCP_CHECK 198.51.100.12:80: timeout', inhibited: true });
  h.emit({ type: 'virtualserver.quorum', virtualServer: 'FWM 5', up: false, weight: 0, quorum: 1, hysteresis: 0, sorryServer: false });
  await h.idle();
  const lvsLines = [
    `VS ${VS} UP`,
    `RS ${RS} ${VS} DOWN`,
    `VS ${VS} DOWN`,
    `RS ${RS} ${VS} UP`,
    'RS [198.51.100.12]:none:0 FWM 5 DOWN',
    'VS FWM 5 DOWN',
  ];
  const withVrrp = [lvsLines[0], 'INSTANCE "VI_1" MASTER 100', ...lvsLines.slice(1)].join('\n') + '\n';
  await waitFor('notify_fifo lines', () => readAll.out().length >= withVrrp.length);
  assert.equal(readAll.out(), withVrrp);
  await waitFor('lvs_notify_fifo lines', () => readLvs.out().length >= lvsLines.join('\n').length + 1);
  assert.equal(readLvs.out(), lvsLines.join('\n') + '\n');
  await waitFor('vrrp_notify_fifo line', () => readVrrp.out().length > 0);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(readVrrp.out(), 'INSTANCE "VI_1" MASTER 100\n');
});

test('an lvs_notify_fifo alone takes no VRRP lines', async () => {
  const path = join(tempDir(), 'lvs-only.fifo');
  h = await startPlugin(plugin, { fifos: [{ path, lines: ['lvs'] }] });
  const reader = attachReader(path);
  h.emit(transition('VI_1', 'backup', 'master', 100));
  h.emit({ type: 'realserver.up', virtualServer: '[GRP]:0', realServer: '[198.51.100.10]:tcp:80', weight: 1, reason: 'TCP_CHECK 198.51.100.10:80: connected' });
  await h.idle();
  await waitFor('the RS line', () => reader.out().length > 0);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(reader.out(), 'RS [198.51.100.10]:tcp:80 [GRP]:0 UP\n');
});
