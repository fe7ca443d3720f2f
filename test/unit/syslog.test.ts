// Syslog as keepalived does it, against a real AF_UNIX datagram socket (a python3 receiver bound
// at a temp path stands in for journald / rsyslog's /dev/log): RFC 3164 lines with keepalived's
// idents and the facility from -S, priorities from our levels, a missing socket that never
// throws or blocks and is reconnected when it appears, a receiver that stops reading that costs
// lines but never time; and the daemon's own lines (supervisor and engine) through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleTime, formatSyslog, parseFacility, rfc3164Time, SyslogSink } from '../../src/daemon/syslog.ts';
import { createLogger } from '../../src/daemon/log.ts';
import { notifyReceiver } from '../lib/notify-receiver.ts';
import { needs } from '../lib/require.ts';

const python = needs('python3');
const bin = new URL('../../bin/vigil', import.meta.url).pathname;
const tmp = () => mkdtempSync(join(tmpdir(), 'vigil-syslog-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('formats: RFC 3164 timestamp, keepalived console timestamp, priority = facility * 8 + severity', () => {
  assert.equal(rfc3164Time(new Date(2026, 10, 30, 15, 16, 9)), 'Nov 30 15:16:09');
  assert.equal(rfc3164Time(new Date(2026, 11, 1, 8, 0, 0)), 'Dec  1 08:00:00');
  assert.equal(consoleTime(new Date(2026, 10, 30, 14, 30, 8)), 'Mon Nov 30 14:30:08 2026');
  assert.equal(consoleTime(new Date(2026, 11, 1, 8, 0, 0)), 'Tue Dec  1 08:00:00 2026');
  const time = new Date(2026, 10, 30, 15, 16, 9);
  // what Debian's keepalived 2.2.7 sent with -S 3: <158>Nov 30 15:16:09 Keepalived_vrrp[20811]: ...
  assert.equal(formatSyslog({ facility: 19, level: 'info', ident: 'Keepalived_vrrp', pid: 20811, time, message: '(VI_1) Entering BACKUP STATE (init)' }), '<158>Nov 30 15:16:09 Keepalived_vrrp[20811]: (VI_1) Entering BACKUP STATE (init)');
  assert.match(formatSyslog({ facility: 3, level: 'error', ident: 'Keepalived', pid: 1, time, message: 'x' }), /^<27>/);
  assert.match(formatSyslog({ facility: 3, level: 'warn', ident: 'Keepalived', pid: 1, time, message: 'x' }), /^<28>/);
  assert.match(formatSyslog({ facility: 3, level: 'debug', ident: 'Keepalived', pid: 1, time, message: 'x' }), /^<31>/);
  assert.ok(formatSyslog({ facility: 3, level: 'info', ident: 'K', pid: 1, time, message: 'y'.repeat(20_000) }).length < 8100);
});

test('-S: 0-7 and local0-7 are local0..local7; daemon and user by name; the rest refused', () => {
  assert.equal(parseFacility('0'), 16);
  assert.equal(parseFacility('7'), 23);
  assert.equal(parseFacility('local3'), 19);
  assert.equal(parseFacility('LOG_LOCAL5'), 21);
  assert.equal(parseFacility('daemon'), 3);
  assert.equal(parseFacility('user'), 1);
  for (const bad of ['8', '-1', 'local8', 'kern', '']) assert.equal(parseFacility(bad), undefined, bad);
  const r = spawnSync(process.execPath, [bin, '-n', '-S', '9'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'vigil: -S 9: a syslog facility is 0-7 (local0-local7), local0-local7, daemon or user\nsee vigil --help\n');
});

test('lines reach a real datagram socket with the ident, pid and priorities; multi-line messages become lines', { ...python }, async () => {
  const dir = tmp();
  const rx = await notifyReceiver(join(dir, 'log'));
  try {
    const sink = new SyslogSink({ ident: 'Keepalived_vrrp', facility: 19, path: join(dir, 'log') });
    assert.equal(sink.log('info', '(VI_1) Entering MASTER STATE'), true);
    assert.equal(sink.log('error', 'first\nsecond'), true);
    await rx.waitFor(/second/);
    const re = (pri: number, text: string) => new RegExp(`^<${pri}>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d Keepalived_vrrp\\[${process.pid}\\]: ${text}$`);
    assert.match(rx.messages[0]?.msg ?? '', re(158, '\\(VI_1\\) Entering MASTER STATE'));
    assert.match(rx.messages[1]?.msg ?? '', re(155, 'first'));
    assert.match(rx.messages[2]?.msg ?? '', re(155, 'second'));
    assert.equal(rx.messages[0]?.pid, process.pid, 'the kernel says who sent it');
    sink.close();
  } finally {
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing socket neither throws nor waits; the socket is found once it appears, and a restarted receiver is reconnected', { ...python }, async () => {
  const dir = tmp();
  const path = join(dir, 'log');
  const sink = new SyslogSink({ ident: 'Keepalived', path, retryMs: 50 });
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) assert.equal(sink.log('info', `lost ${i}`), false);
  assert.ok(performance.now() - t0 < 1000, 'a missing socket costs no time');
  let rx = await notifyReceiver(path);
  try {
    await sleep(60);
    assert.equal(sink.log('info', 'back'), true);
    await rx.waitFor(/back/);
    assert.match(rx.messages[0]?.msg ?? '', /<28>.* Keepalived\[\d+\]: syslog: 1000 log lines could not be delivered to .*\/log \(socket missing or full\)$/);
    // journald or rsyslog restarted: the old socket is gone, a new one is bound at the path
    rx.close();
    await new Promise((r) => rx.child.once('exit', r));
    rmSync(path, { force: true });
    rx = await notifyReceiver(path);
    await sleep(60);
    assert.equal(sink.log('info', 'after restart'), true, 'reconnected on the next line');
    await rx.waitFor(/after restart/);
  } finally {
    sink.close();
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a receiver that stops reading costs lines, never time', { ...python }, async () => {
  const dir = tmp();
  const path = join(dir, 'log');
  // binds and never reads
  const stuck = spawn('python3', ['-c', `import socket,sys,time\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("ready",flush=True)\ntime.sleep(60)`, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((r) => stuck.stdout.once('data', r));
    const sink = new SyslogSink({ ident: 'Keepalived_vrrp', path });
    const t0 = performance.now();
    let delivered = 0;
    for (let i = 0; i < 20_000; i++) if (sink.log('info', `line ${i} ${'x'.repeat(200)}`)) delivered++;
    const took = performance.now() - t0;
    assert.ok(delivered > 0 && delivered < 20_000, `delivered ${delivered}`);
    assert.equal(sink.lostTotal, 20_000 - delivered);
    assert.ok(took < 3000, `took ${took} ms`);
    sink.close();
  } finally {
    stuck.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the logger: syslog gets the text (secrets masked); without -l stderr gets JSON only for lines syslog could not take', { ...python }, async () => {
  const dir = tmp();
  const path = join(dir, 'log');
  const rx = await notifyReceiver(path);
  try {
    const out: string[] = [];
    const log = createLogger({ detail: false, write: (l) => out.push(l), syslog: { ident: 'Keepalived_vrrp', facility: 16, path } });
    log.setSecrets(['hunter22']);
    log.warn('auth hunter22 failed', { from: 'backup' });
    await rx.waitFor(/auth/);
    assert.match(rx.messages[0]?.msg ?? '', /^<132>.* Keepalived_vrrp\[\d+\]: auth \[REDACTED\] failed from=backup$/);
    assert.deepEqual(out, [], 'delivered to syslog: nothing on stderr');
    // -l: both, the console line with its timestamp
    const con: string[] = [];
    const both = createLogger({ detail: false, console: true, write: (l) => con.push(l), syslog: { ident: 'Keepalived', path } });
    both.info('hello');
    await rx.waitFor(/hello/);
    assert.match(con[0] ?? '', /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}: vigil\[\d+\] info: hello$/);
    // no socket: JSON on stderr instead of a lost line
    const lost: string[] = [];
    const fallback = createLogger({ detail: false, write: (l) => lost.push(l), syslog: { ident: 'Keepalived', path: join(dir, 'missing') } });
    fallback.error('nowhere else');
    assert.equal((JSON.parse(lost[0] ?? '{}') as { msg?: string }).msg, 'nowhere else');
  } finally {
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the daemon: supervisor lines as Keepalived, engine lines as Keepalived_vrrp, facility from -S; -G: none, JSON on stderr', { ...python }, async () => {
  const dir = tmp();
  const path = join(dir, 'log');
  const rx = await notifyReceiver(path);
  try {
    // an invalid config: the engine logs its error and exits during start, the supervisor says
    // so; no root or interface needed
    const conf = join(dir, 'bad.yaml');
    writeFileSync(conf, 'vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 300\n');
    const env = { ...process.env, VIGIL_SYSLOG_SOCKET: path };
    const run = (extra: string[]) => spawnSync(process.execPath, [bin, '-n', '-f', conf, '-p', join(dir, 'p.pid'), ...extra], { encoding: 'utf8', timeout: 30_000, env });
    const r = run(['-S', '3']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, '', 'every line went to syslog');
    const started = await rx.waitFor(/engine child \d+ started/);
    const child = Number(/engine child (\d+) started/.exec(started.msg)?.[1]);
    assert.match(started.msg, new RegExp(`^<158>.* Keepalived\\[${started.pid}\\]: supervisor: engine child ${child} started$`));
    const err = await rx.waitFor(/virtual_router_id/);
    assert.equal(err.pid, child);
    assert.match(err.msg, new RegExp(`^<155>.* Keepalived_vrrp\\[${child}\\]: .*bad\\.yaml:\\d+:\\d+: vrrp_instance\\.VI_1\\.virtual_router_id: must be 1\\.\\.255`));
    await rx.waitFor(/<155>.* Keepalived\[\d+\]: supervisor: engine child \d+ exited during start/);
    const before = rx.messages.length;
    const g = run(['-G']);
    assert.equal(g.status, 1);
    const lines = g.stderr.trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
    assert.ok(lines.some((l) => /virtual_router_id/.test(l.msg)), g.stderr);
    await sleep(200);
    assert.equal(rx.messages.length, before, '-G: nothing to syslog');
  } finally {
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
