// The control socket and the CLI that talks to it, on a daemon-like object (a real bus and an
// unstarted engine, a fake plugin host and reload): the path derivation shared by daemon and
// CLI, the socket's mode, status without secrets, events in order, a slow reader cut off
// without holding up the publisher, reloads applied and rejected, stale and live sockets, and
// the SIGUSR1 / SIGUSR2 dumps (never written through a planted symlink).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../../src/bus/bus.ts';
import type { VigilEvent } from '../../src/bus/events.ts';
import { controlCommand, formatEvent, renderStatus } from '../../src/cli/control.ts';
import { formatStatsDump, MasterTally, registerDumpSignals } from '../../src/control/dumps.ts';
import { collectStatus, controlSocketPath, startControlSocket, type ControlResponse, type ControlSocket } from '../../src/control/socket.ts';
import { loadConfigText } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { Engine } from '../../src/daemon/engine.ts';
import type { Logger } from '../../src/daemon/log.ts';
import type { Daemon, ReloadResult } from '../../src/daemon/run.ts';
import type { PluginStatus } from '../../src/plugins/host.ts';
import { needs } from '../lib/require.ts';

const SECRET = 'hunter22';

function yaml(dir: string): string {
  return `vrrp_instance:
  VI_1:
    interface: vg-absent0
    virtual_router_id: 51
    priority: 150
    version: 2
    authentication:
      auth_type: PASS
      auth_pass: ${SECRET}
    virtual_ipaddress:
      - address: 192.0.2.100/24
control:
  state_dump: ${join(dir, 'keepalived.data')}
  stats_dump: ${join(dir, 'keepalived.stats')}
`;
}

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Fake {
  daemon: Daemon;
  dir: string;
  bus: EventBus;
  engine: Engine;
  /** What the next reload answers. */
  nextReload: ReloadResult;
  reloadCalls: string[];
  cleanup(): Promise<void>;
}

/** A Daemon as the control interfaces see it; the engine is real but never started (no
 * sockets, no netlink), so its status is the configured instances in INIT. */
function fakeDaemon(): Fake {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-control-'));
  const file = join(dir, 'vigil.yaml');
  writeFileSync(file, yaml(dir));
  const r = loadConfigText(yaml(dir), file);
  assert.ok(r.config, JSON.stringify(r.diagnostics));
  const config: Config = r.config;
  const bus = new EventBus();
  const engine = new Engine(config, quiet, bus);
  const plugins: PluginStatus[] = [
    { id: 'track-script', name: 'track-script', origin: 'builtin', state: 'running', restarts: 2, failures: 3, handlerErrors: 0, eventsDelivered: 7, queued: 0, lastError: `webhook said: bad password ${SECRET}` },
  ];
  const stopFns: Array<() => void | Promise<void>> = [];
  const fake: Fake = {
    dir,
    bus,
    engine,
    nextReload: { ok: true, diff: { unchanged: ['VI_1'], updated: [], recreated: [], added: [], removed: [] }, pluginsRestarted: [] },
    reloadCalls: [],
    daemon: undefined as unknown as Daemon,
    cleanup: async () => {
      for (const fn of stopFns.reverse()) await fn();
      await engine.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  fake.daemon = {
    opts: { file, pidFile: join(dir, 'vigil.pid'), detail: false },
    log: quiet,
    bus,
    engine,
    host: { status: () => plugins } as unknown as Daemon['host'],
    balancer: { active: false } as unknown as Daemon['balancer'],
    config: () => config,
    reload: (why) => {
      fake.reloadCalls.push(why);
      return Promise.resolve(fake.nextReload);
    },
    stop: () => Promise.resolve(),
    stopped: new Promise(() => undefined),
    onStop: (fn) => void stopFns.push(fn),
  };
  return fake;
}

async function withControl(fn: (f: Fake, s: ControlSocket) => Promise<void>, opts: { maxBuffer?: number } = {}): Promise<void> {
  const f = fakeDaemon();
  const s = await startControlSocket(f.daemon, { ...opts, path: join(f.dir, 'vigil.sock') });
  f.daemon.onStop(() => s.close());
  try {
    await fn(f, s);
  } finally {
    await f.cleanup();
  }
}

/** A raw client: line-by-line reader over one connection. */
function client(path: string): { sock: Socket; next(): Promise<ControlResponse>; send(x: unknown): void; lines: ControlResponse[] } {
  const sock = createConnection(path);
  const lines: ControlResponse[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as ControlResponse);
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  let read = 0;
  const next = async (): Promise<ControlResponse> => {
    while (read >= lines.length) await new Promise<void>((r) => waiters.push(r));
    return lines[read++] as ControlResponse;
  };
  return { sock, next, send: (x) => sock.write((typeof x === 'string' ? x : JSON.stringify(x)) + '\n'), lines };
}

function sink(): { out: (s: string) => void; err: (s: string) => void; stdout: () => string; stderr: () => string } {
  let o = '';
  let e = '';
  return { out: (s) => void (o += s), err: (s) => void (e += s), stdout: () => o, stderr: () => e };
}

test('socket path: control.socket, else the pid file with .sock, else /run/vigil/<config>-<8 hex of sha256(path)>.sock', () => {
  assert.equal(controlSocketPath({ file: '/etc/k/a.conf', socket: '/run/x.sock', pidFile: '/run/a.pid' }), '/run/x.sock');
  assert.equal(controlSocketPath({ file: '/etc/k/a.conf', pidFile: '/tmp/lab/r1.pid' }), '/tmp/lab/r1.sock');
  assert.equal(controlSocketPath({ file: '/etc/k/a.conf', pidFile: '/tmp/lab/r1' }), '/tmp/lab/r1.sock');
  assert.equal(controlSocketPath({ file: '/etc/k/a.conf', pidFile: '/tmp/lab.d/r1.pid' }), '/tmp/lab.d/r1.sock');
  const hash = createHash('sha256').update('/nonexistent/vigil/keepalived.conf').digest('hex').slice(0, 8);
  assert.equal(controlSocketPath({ file: '/nonexistent/vigil/keepalived.conf' }), `/run/vigil/keepalived-${hash}.sock`);
  // two configs with one name in two directories (one daemon per namespace) never collide
  assert.notEqual(controlSocketPath({ file: '/nonexistent/a/keepalived.conf' }), controlSocketPath({ file: '/nonexistent/b/keepalived.conf' }));
  // relative and absolute spellings of one file find the same daemon
  const dir = mkdtempSync(join(tmpdir(), 'vigil-path-'));
  try {
    writeFileSync(join(dir, 'r.yaml'), '');
    symlinkSync(join(dir, 'r.yaml'), join(dir, 'link.yaml'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.equal(controlSocketPath({ file: 'r.yaml' }), controlSocketPath({ file: join(dir, 'r.yaml') }));
      assert.equal(controlSocketPath({ file: 'link.yaml' }), controlSocketPath({ file: join(dir, 'r.yaml') }), 'symlinks resolved');
      assert.equal(controlSocketPath({ file: 'x', pidFile: 'r.pid' }), join(dir, 'r.sock'));
    } finally {
      process.chdir(cwd);
    }
    assert.equal(controlSocketPath({ file: join(dir, 'r.yaml'), runDir: dir }).startsWith(`${dir}/r-`), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('status: socket 0600; engine, plugin and daemon status; no secrets', async () => {
  await withControl(async (f, s) => {
    assert.equal(statSync(s.path).mode & 0o777, 0o600);
    assert.equal(lstatSync(s.path).isSocket(), true);
    assert.equal(statSync(s.path).uid, process.getuid?.());
    const c = client(s.path);
    c.send({ cmd: 'status' });
    const msg = await c.next();
    c.sock.destroy();
    assert.ok('ok' in msg && msg.ok && msg.cmd === 'status');
    const st = msg.status;
    assert.equal(st.daemon.pid, process.pid);
    assert.equal(st.daemon.configFile, f.daemon.opts.file);
    assert.equal(st.daemon.socket, s.path);
    assert.match(st.daemon.version, /^\d+\.\d+\.\d+/);
    const vi = st.engine.instances[0];
    assert.equal(vi?.name, 'VI_1');
    assert.equal(vi?.basePriority, 150);
    assert.equal(vi?.effectivePriority, 150);
    assert.deepEqual([st.plugins[0]?.restarts, st.plugins[0]?.failures], [2, 3]);
    assert.doesNotMatch(JSON.stringify(msg), new RegExp(SECRET), 'the auth password is not in the status');
    assert.equal(st.plugins[0]?.lastError, 'webhook said: bad password [REDACTED]', 'even where a plugin quotes it');

    // several requests on one connection; bad ones answered, the connection kept
    const c2 = client(s.path);
    c2.send('not json');
    c2.send({ cmd: 'shutdown' });
    c2.send({ cmd: 'status' });
    const [bad, unknown, ok] = [await c2.next(), await c2.next(), await c2.next()];
    c2.sock.destroy();
    assert.ok('error' in bad && /not JSON/.test(bad.error));
    assert.ok('error' in unknown && /unknown command "shutdown"/.test(unknown.error));
    assert.ok('ok' in ok && ok.ok);
  });
});

test('vigil status renders a table and --json; a missing daemon is said clearly', async () => {
  await withControl(async (f, s) => {
    f.engine.adjust('track-script', 'VI_1', 'chk_web', -20);
    const o = sink();
    assert.equal(await controlCommand('status', { file: f.daemon.opts.file, socket: s.path, out: o.out, err: o.err }), 0, o.stderr());
    assert.match(o.stdout(), /INSTANCE\s+STATE\s+PRIO/);
    assert.match(o.stdout(), /VI_1\s+INIT\s+150\/130\s+track-script:chk_web-20/);
    assert.match(o.stdout(), /track-script\s+running\s+2\s+3/);
    const j = sink();
    assert.equal(await controlCommand('status', { file: f.daemon.opts.file, socket: s.path, json: true, out: j.out, err: j.err }), 0);
    const parsed = JSON.parse(j.stdout()) as ReturnType<typeof collectStatus>;
    assert.deepEqual(parsed.engine.instances[0]?.adjustments, { 'track-script:chk_web': -20 });
    // the CLI finds the socket from -p like the daemon does
    const p = sink();
    assert.equal(await controlCommand('status', { file: f.daemon.opts.file, pidFile: join(f.dir, 'vigil.pid'), json: true, out: p.out, err: p.err }), 0, p.stderr());
  });
  const e = sink();
  const missing = join(tmpdir(), `vigil-none-${process.pid}.sock`);
  assert.equal(await controlCommand('status', { file: '/nonexistent.conf', socket: missing, out: e.out, err: e.err }), 1);
  assert.equal(e.stderr(), `vigil status: no vigil daemon answers on ${missing} (started with the same -f/-p?)\n`);
});

test('renderStatus shows the last transition with reason, age, master seen and drops', () => {
  const f = fakeDaemon();
  try {
    const st = collectStatus(f.daemon);
    const vi = st.engine.instances[0];
    assert.ok(vi);
    vi.state = 'backup';
    vi.masterAddress = '192.0.2.1';
    vi.transitions = [{ from: 'initialize', to: 'backup', reason: 'startup', priority: 150, time: new Date(Date.now() - 75_000).toISOString() }];
    vi.counters = { advertsSent: 0, advertsReceived: 42, priorityZeroSent: 0, priorityZeroReceived: 0, transitions: 1, reassertions: 0, addressMismatches: 0, dropped: { 'bad-checksum': 3 }, discarded: {} };
    const text = renderStatus(st);
    assert.match(text, /VI_1\s+BACKUP\s+150\/150\s+-\s+192\.0\.2\.1\s+INIT->BACKUP startup, 1m15s ago\s+42\/0\s+3 \(bad-checksum=3\)/);
    // the pid to signal and the engine's, labelled
    assert.match(text, new RegExp(`^daemon pid ${process.pid} \\(signal this one; the engine runs in it, unsupervised\\)$`, 'm'));
    const sup = renderStatus({ ...st, daemon: { ...st.daemon, mainPid: 4200, enginePid: 4242, supervised: true } });
    assert.match(sup, /^daemon pid 4200 \(the supervisor: signal this one\), engine pid 4242$/m);
  } finally {
    void f.cleanup();
  }
});

test('renderStatus shows an etcd-elected instance: leader, lease time left, renewals, etcd state', () => {
  const f = fakeDaemon();
  try {
    const st = collectStatus(f.daemon);
    const vi = st.engine.instances[0];
    assert.ok(vi);
    vi.election = { backend: 'etcd', name: 'n1', leader: 'n2', lease: { id: '7', ttl: 3, remainingMs: 2480 }, connected: true, policy: 'release', keeping: false, endpoints: ['http://192.0.2.11:2379'], lastError: null, renewals: { ok: 40, failed: 2, lost: 0, maxMs: 9, lastMs: 1.5 } };
    assert.match(renderStatus(st), /^etcd\s+VI_1\s+n1\s+n2\s+2\.5 s left of 3 s\s+40\/2\/0\s+connected$/m);
    vi.election = { ...vi.election, lease: null, connected: false, lastError: 'etcd http://192.0.2.11:2379: authentication failed: wrong user or password', renewals: null };
    assert.match(renderStatus(st), /^etcd\s+VI_1\s+n1\s+n2\s+none\s+-\s+etcd http:\/\/192\.0\.2\.11:2379: authentication failed/m);
    vi.election = undefined;
    assert.doesNotMatch(renderStatus(st), /ELECTED ON/);
  } finally {
    void f.cleanup();
  }
});

test('events: every bus event, in order, as JSON lines; the CLI prints them', async () => {
  await withControl(async (f, s) => {
    const c = client(s.path);
    c.send({ cmd: 'events' });
    const ack = await c.next();
    assert.ok('ok' in ack && ack.ok && ack.cmd === 'events');
    for (let i = 0; i < 200; i++) f.bus.publish({ type: 'instance.priority', instance: 'VI_1', base: 100, previous: i, effective: i + 1, cause: 'x:y', adjustments: {} });
    f.bus.publish({ type: 'instance.transition', instance: 'VI_1', vrid: 51, interface: 'eth0', from: 'backup', to: 'master', reason: 'master-down-timer', priority: 100, detail: '192.0.2.1' });
    const got: VigilEvent[] = [];
    for (let i = 0; i < 201; i++) {
      const m = await c.next();
      assert.ok('event' in m);
      got.push(m.event);
    }
    c.sock.destroy();
    assert.deepEqual(got.map((e) => e.seq), Array.from({ length: 201 }, (_, i) => i + 1));
    assert.equal(got.at(-1)?.type, 'instance.transition');
    assert.match(formatEvent(got.at(-1) as VigilEvent), /instance\.transition VI_1 BACKUP -> MASTER reason=master-down-timer priority=100 detail=192\.0\.2\.1$/);
    // secrets quoted in an event are masked on the way out
    const c3 = client(s.path);
    c3.send({ cmd: 'events' });
    await c3.next();
    f.bus.publish({ type: 'plugin.failed', plugin: 'webhook', cause: 'threw', error: `401 for ${SECRET}`, restartInMs: 100 });
    const masked = await c3.next();
    c3.sock.destroy();
    assert.ok('event' in masked && masked.event.type === 'plugin.failed' && masked.event.error === '401 for [REDACTED]');
    // the subscriber goes with the client
    await new Promise((r) => setTimeout(r, 50));
    f.bus.publish({ type: 'plugin.started', plugin: 'p', restarts: 0 });

    // the CLI, --json: one event per line
    const o = sink();
    const run = controlCommand('events', { file: f.daemon.opts.file, socket: s.path, json: true, out: o.out, err: o.err });
    await new Promise((r) => setTimeout(r, 100));
    f.bus.publish({ type: 'config.rejected', file: 'x.conf', errors: ['x.conf:3:5: vrrp_instance.VI_1.virtual_router_id: must be 1..255'] });
    await new Promise((r) => setTimeout(r, 100));
    await s.close(); // the daemon going away ends the stream
    assert.equal(await run, 1);
    assert.equal((JSON.parse(o.stdout().trim()) as VigilEvent).type, 'config.rejected');
    assert.match(o.stderr(), /the daemon closed the connection/);
  });
});

test('events: a client that does not read is cut off with a last line; the publisher never waits', async () => {
  await withControl(
    async (f, s) => {
      const c = client(s.path);
      c.send({ cmd: 'events' });
      await c.next();
      c.sock.pause(); // stops reading: the kernel buffer fills, then the daemon's
      const big = 'x'.repeat(1000);
      const t0 = performance.now();
      for (let i = 0; i < 3000; i++) f.bus.publish({ type: 'plugin.failed', plugin: 'p', cause: 'threw', error: big, restartInMs: 0 });
      const took = performance.now() - t0;
      assert.ok(took < 2000, `3000 publishes took ${took.toFixed(0)} ms`);
      const closed = new Promise((r) => c.sock.once('close', r));
      c.sock.resume();
      await closed;
      const last = c.lines.at(-1);
      assert.ok(last && 'disconnected' in last && last.disconnected, JSON.stringify(last).slice(0, 200));
      assert.ok('error' in last && /too slow/.test(last.error));
      assert.ok(c.lines.length < 3000, `cut off before everything was sent (${c.lines.length} lines)`);
      const seqs = c.lines.filter((l) => 'event' in l).map((l) => (l as { event: VigilEvent }).event.seq);
      assert.deepEqual(seqs, seqs.slice().sort((a, b) => a - b), 'what it got is in order');
    },
    { maxBuffer: 64 * 1024 },
  );
});

test('reload: the applied diff, or the errors with file:line and a non-zero exit', async () => {
  await withControl(async (f, s) => {
    const o = sink();
    assert.equal(await controlCommand('reload', { file: f.daemon.opts.file, socket: s.path, out: o.out, err: o.err }), 0);
    assert.deepEqual(f.reloadCalls, ['control socket']);
    assert.match(o.stdout(), /reload applied\n\s+unchanged:\s+VI_1\n/);

    f.nextReload = { ok: false, errors: [`${f.daemon.opts.file}:3:5: vrrp_instance.VI_1.virtual_router_id: must be 1..255`] };
    const e = sink();
    assert.equal(await controlCommand('reload', { file: f.daemon.opts.file, socket: s.path, out: e.out, err: e.err }), 1);
    assert.match(e.stderr(), /reload rejected; the running configuration stays:\n\s+\S+vigil\.yaml:3:5: vrrp_instance\.VI_1\.virtual_router_id: must be 1\.\.255/);
    const j = sink();
    assert.equal(await controlCommand('reload', { file: f.daemon.opts.file, socket: s.path, json: true, out: j.out, err: j.err }), 1);
    assert.deepEqual(JSON.parse(j.stdout()), f.nextReload);

    // a client that sends its request and shuts its side still gets the answer
    f.nextReload = { ok: true, diff: { unchanged: [], updated: ['VI_1'], recreated: [], added: [], removed: [] }, pluginsRestarted: ['notify-script'] };
    const c = client(s.path);
    c.sock.end(JSON.stringify({ cmd: 'reload' }) + '\n');
    const m = await c.next();
    assert.ok('ok' in m && m.ok && m.cmd === 'reload' && m.result.ok && m.result.pluginsRestarted[0] === 'notify-script');
  });
});

test('a stale socket from a crashed run is replaced; a live one or a regular file is not; stop removes it', async () => {
  const f = fakeDaemon();
  const path = join(f.dir, 'vigil.sock');
  try {
    // a process that binds and dies without cleaning up
    const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(lstatSync(path).isSocket(), 'stale socket left behind');
    const s = await startControlSocket(f.daemon, { path });
    await assert.rejects(startControlSocket(f.daemon, { path }), /a daemon already answers on .*vigil\.sock/);
    const c = client(path);
    c.send({ cmd: 'status' });
    assert.ok('ok' in (await c.next()));
    c.sock.destroy();
    await s.close();
    assert.equal(existsSync(path), false, 'removed on stop');

    writeFileSync(path, 'not a socket');
    await assert.rejects(startControlSocket(f.daemon, { path }), /exists and is not a socket/);
    assert.equal(readFileSync(path, 'utf8'), 'not a socket');
  } finally {
    await f.cleanup();
  }
});

test('SIGUSR1 / SIGUSR2 write the state and statistics dumps; a planted symlink is replaced, not followed', async () => {
  const f = fakeDaemon();
  const off = registerDumpSignals(f.daemon, () => '/x/vigil.sock');
  try {
    const cfg = f.daemon.config().control;
    const victim = join(f.dir, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, cfg.state_dump);
    f.engine.adjust('track-script', 'VI_1', 'chk_web', 10);
    f.bus.publish({ type: 'instance.transition', instance: 'VI_1', vrid: 51, interface: 'eth0', from: 'backup', to: 'master', reason: 'master-down-timer', priority: 160 });
    f.bus.publish({ type: 'instance.transition', instance: 'VI_1', vrid: 51, interface: 'eth0', from: 'master', to: 'backup', reason: 'higher-priority-seen', priority: 160 });
    f.bus.publish({ type: 'instance.transition', instance: 'VI_1', vrid: 51, interface: 'eth0', from: 'backup', to: 'master', reason: 'master-down-timer', priority: 160 });
    process.kill(process.pid, 'SIGUSR1');
    process.kill(process.pid, 'SIGUSR2');
    for (let i = 0; i < 100 && !(existsSync(cfg.stats_dump) && lstatSync(cfg.state_dump).isFile()); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the symlink target is untouched');
    assert.equal(lstatSync(cfg.state_dump).isFile(), true);
    const state = readFileSync(cfg.state_dump, 'utf8');
    assert.match(state, /VRRP Instance = VI_1\n/);
    assert.match(state, /State = INIT/);
    assert.match(state, /Priority = 150\n\s+Effective priority = 160\n/);
    assert.match(state, /track-script:chk_web weight \+10/);
    assert.match(state, /Virtual IP \(1\):\n\s+192\.0\.2\.100\/24 dev vg-absent0/);
    assert.match(state, /Control socket = \/x\/vigil\.sock/);
    assert.doesNotMatch(state, new RegExp(SECRET));
    const stats = readFileSync(cfg.stats_dump, 'utf8');
    assert.match(stats, /VRRP Instance: VI_1\n\s+Advertisements:\n\s+Received: 0\n\s+Sent: 0\n\s+Became master: 2\n\s+Released master: 1\n/);
    assert.match(stats, /track-script: restarts 2, failures 3/);
    assert.doesNotMatch(stats, new RegExp(SECRET));
  } finally {
    off();
    await f.cleanup();
  }
});

test('statistics list every drop reason of an instance and unclaimed packets by interface', () => {
  const f = fakeDaemon();
  try {
    const st = collectStatus(f.daemon);
    const vi = st.engine.instances[0];
    assert.ok(vi);
    vi.counters = { advertsSent: 5, advertsReceived: 9, priorityZeroSent: 1, priorityZeroReceived: 2, transitions: 3, reassertions: 1, addressMismatches: 0, dropped: { 'vrid-mismatch': 4, 'bad-checksum': 1 }, discarded: { 'lower-priority': 6 } };
    st.engine.drops = { 'interface:eth0': { 'vrid-mismatch': 7 } };
    const tally = new MasterTally(f.daemon);
    const text = formatStatsDump(st, tally);
    tally.close();
    assert.match(text, /Packets dropped: 5\n\s+bad-checksum: 1\n\s+vrid-mismatch: 4\n/);
    assert.match(text, /Adverts discarded by the state machine: 6\n\s+lower-priority: 6\n/);
    assert.match(text, /Priority Zero:\n\s+Received: 2\n\s+Sent: 1\n/);
    assert.match(text, /Interface: eth0\n\s+Packets dropped: 7\n\s+vrid-mismatch: 7\n/);
  } finally {
    void f.cleanup();
  }
});

test('vigil status will not talk to a foreign-owned socket in a directory others can write to', { ...needs('root', 'user:nobody') }, async () => {
  await withControl(async (f, s) => {
    chownSync(s.path, 65534, 65534);
    // a daemon running as its own user, in a directory only it (or root) writes to: trusted
    const ok = sink();
    assert.equal(await controlCommand('status', { file: f.daemon.opts.file, socket: s.path, json: true, out: ok.out, err: ok.err }), 0, ok.stderr());
    // the same socket in a world-writable (sticky, like /tmp) directory: could be anyone's
    chmodSync(f.dir, 0o1777);
    const e = sink();
    assert.equal(await controlCommand('status', { file: f.daemon.opts.file, socket: s.path, out: e.out, err: e.err }), 1);
    assert.equal(e.stderr(), `vigil status: ${s.path} is owned by uid 65534, neither root nor you (uid 0), in a directory others can write to; not talking to it\n`);
    assert.equal(e.stdout(), '');
  });
});

const asRoot = needs('root', 'user:nobody'); // they chown to nobody

test('the daemon refuses a socket directory others could change (0777 without the sticky bit, or nobody\'s); a sticky one is accepted', { ...asRoot }, async () => {
  const f = fakeDaemon();
  try {
    const d = join(f.dir, 'run');
    mkdirSync(d, { mode: 0o755 });
    const path = join(d, 'vigil.sock');
    chmodSync(d, 0o777);
    await assert.rejects(startControlSocket(f.daemon, { path }), {
      message: `refusing to create ${path}: ${d} is writable by others (mode 0777) without the sticky bit, so others could replace the socket; put it in a directory only root can write to (control.socket, or -p elsewhere)`,
    });
    assert.equal(existsSync(path), false);
    chmodSync(d, 0o755);
    chownSync(d, 65534, 65534);
    await assert.rejects(startControlSocket(f.daemon, { path }), /refusing to create .*: .* is owned by uid 65534, so others could replace the socket/);
    // a directory above it counts too
    chownSync(d, 0, 0);
    chownSync(f.dir, 65534, 65534);
    await assert.rejects(startControlSocket(f.daemon, { path }), new RegExp(`refusing to create ${path}: ${f.dir} is owned by uid 65534`));
    chownSync(f.dir, 0, 0);
    // sticky, like /tmp: nobody else can remove or rename our socket there
    chmodSync(d, 0o1777);
    const s = await startControlSocket(f.daemon, { path });
    const st = lstatSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    await s.close();
  } finally {
    await f.cleanup();
  }
});

test('a stale socket owned by another user is not unlinked (in a sticky directory anyone may plant one)', { ...asRoot }, async () => {
  const f = fakeDaemon();
  const path = join(f.dir, 'vigil.sock');
  try {
    chmodSync(f.dir, 0o1777);
    const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.equal(r.signal, 'SIGKILL');
    chownSync(path, 65534, 65534);
    await assert.rejects(startControlSocket(f.daemon, { path }), {
      message: `${path} exists and is owned by uid 65534, not by the daemon; not replacing it (someone else's socket: remove it once you know whose it is)`,
    });
    assert.ok(lstatSync(path).isSocket(), 'left alone');
    // ours (a crashed run of this daemon): replaced
    chownSync(path, 0, 0);
    const s = await startControlSocket(f.daemon, { path });
    await s.close();
  } finally {
    await f.cleanup();
  }
});

test('vigil status as root: a nobody-owned socket is refused where a third user could have made it; a root-owned socket in an open directory too', { ...asRoot }, async () => {
  await withControl(async (f, s) => {
    const run = async () => {
      const e = sink();
      const code = await controlCommand('status', { file: f.daemon.opts.file, socket: s.path, json: true, out: e.out, err: e.err });
      return { code, err: e.stderr(), out: e.stdout() };
    };
    assert.equal((await run()).code, 0, 'root\'s socket in root\'s 0700 directory');
    // nobody's socket in a directory of a third user (uid 1): that user could have made it
    chownSync(s.path, 65534, 65534);
    chownSync(f.dir, 1, 1);
    let r = await run();
    assert.equal(r.code, 1);
    assert.equal(r.err, `vigil status: ${s.path} is owned by uid 65534, neither root nor you (uid 0), in ${f.dir}, which is owned by uid 1; not talking to it\n`);
    assert.equal(r.out, '');
    // ... or in root's directory that a group other than root may write to
    chownSync(f.dir, 0, 1);
    chmodSync(f.dir, 0o770);
    r = await run();
    assert.equal(r.code, 1);
    assert.equal(r.err, `vigil status: ${s.path} is owned by uid 65534, neither root nor you (uid 0), in a directory others can write to; not talking to it\n`);
    // a daemon run as nobody, in a directory only root and nobody can change (systemd's
    // RuntimeDirectory=): reached as usual
    chownSync(f.dir, 65534, 65534);
    chmodSync(f.dir, 0o755);
    assert.equal((await run()).code, 0);
    chownSync(f.dir, 0, 0);
    chmodSync(f.dir, 0o700);
    // root's socket, but in a directory anyone can swap it in (no sticky bit)
    chownSync(s.path, 0, 0);
    chmodSync(f.dir, 0o777);
    r = await run();
    assert.equal(r.code, 1);
    assert.equal(r.err, `vigil status: ${s.path} is in a directory others can change (${f.dir} is writable by others (mode 0777) without the sticky bit): it could be anyone's socket; not talking to it\n`);
    // reload and events are refused the same way, before anything is sent
    const e = sink();
    assert.equal(await controlCommand('reload', { file: f.daemon.opts.file, socket: s.path, out: e.out, err: e.err }), 1);
    assert.deepEqual(f.reloadCalls, []);
    assert.equal(await controlCommand('events', { file: f.daemon.opts.file, socket: s.path, out: e.out, err: e.err }), 1);
    chmodSync(f.dir, 0o700);
  });
});
