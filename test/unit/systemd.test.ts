// sd_notify over a real AF_UNIX datagram socket (a python3 receiver stands in for systemd), the
// watchdog interval rules, and the supervisor's refusal to restart an engine that never started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reloadingState, sdNotify, sockaddrUn, watchdogInterval } from '../../src/control/systemd.ts';
import { notifyReceiver } from '../lib/notify-receiver.ts';
import { needs } from '../lib/require.ts';

const bin = new URL('../../bin/vigil', import.meta.url).pathname;

test('sd_notify reaches a datagram socket at a path and at an abstract name', { ...needs('python3') }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-notify-'));
  const abstractName = `@vigil-test-${process.pid}`;
  const byPath = await notifyReceiver(join(dir, 'notify.sock'));
  const byName = await notifyReceiver(abstractName);
  try {
    assert.equal(sdNotify('READY=1\nSTATUS=up', join(dir, 'notify.sock')), true);
    assert.equal(sdNotify('STOPPING=1', abstractName), true);
    assert.deepEqual(await byPath.waitFor(/READY/), { pid: process.pid, msg: 'READY=1\nSTATUS=up' });
    assert.deepEqual(await byName.waitFor(/STOPPING/), { pid: process.pid, msg: 'STOPPING=1' });
    assert.equal(sdNotify('READY=1', undefined), false, 'no socket, nothing sent');
    assert.throws(() => sdNotify('READY=1', join(dir, 'nobody.sock')), /sendto/);
  } finally {
    byPath.close();
    byName.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sockaddr_un: paths NUL-terminated, abstract names with a leading NUL, length checked', () => {
  const p = sockaddrUn('/run/x');
  assert.equal(p.len, 2 + 6 + 1);
  assert.equal(p.addr.subarray(2, 9).toString('latin1'), '/run/x\0');
  const a = sockaddrUn('@abc');
  assert.equal(a.len, 2 + 1 + 3);
  assert.deepEqual([...a.addr.subarray(2, 6)], [0, 0x61, 0x62, 0x63]);
  assert.throws(() => sockaddrUn('/' + 'x'.repeat(120)), /too long/);
});

test('RELOADING=1 carries MONOTONIC_USEC; the watchdog pings at half of WATCHDOG_USEC, for its own pid', () => {
  assert.match(reloadingState(), /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
  assert.equal(watchdogInterval({}, 10), undefined);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 10), 15_000);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '10' }, 10), 15_000);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '11' }, 10), undefined);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: 'x' }, 10), undefined);
});

test('supervisor: an engine that fails to start (invalid config) is not restarted; the parent exits 1 and cleans its pid file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-sup-'));
  try {
    const conf = join(dir, 'bad.yaml');
    writeFileSync(conf, 'vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 300\n');
    const pid = join(dir, 'p.pid');
    const r = spawnSync(process.execPath, [bin, '-n', '-l', '-f', conf, '-p', pid, '-r', join(dir, 'r.pid')], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /virtual_router_id: must be 1\.\.255/);
    assert.match(r.stderr, /supervisor: engine child \d+ exited during start \(exit code 1\); not restarting/);
    assert.equal(r.stderr.match(/engine child \d+ started/g)?.length, 1);
    assert.ok(!existsSync(pid), 'no pid file left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
