// The supervisor (vigil's keepalived-like parent process) on real interfaces:
// - the Master's engine child is SIGKILLed: the parent logs why and starts a new engine (new pid
//   in the -r file), which removes the stale VIP and preempts again; the pair converges with the
//   VIP on exactly one node;
// - the parent SIGKILLed: its engine dies with it (no orphan advertising), silently, so the
//   Backup takes over by Master_Down_Interval, as on node death;
// - an engine dying too often: the parent gives up after 5 restarts and exits non-zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPair } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const VIP = '192.0.2.100/24';
const skip = needs('root', 'ip');

const conf = (priority: number) => `vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 61
    priority: ${priority}
    version: 3
    advert_int: 0.2
    virtual_ipaddress:
      - address: ${VIP}
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

const readPid = (file: string) => (existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || 0 : 0);

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await sleep(50);
  }
}

test('supervisor: a killed engine is restarted, cleans up, and the pair converges on one Master', { ...skip, timeout: 90_000 }, async () => {
  await withPair(['s1', 's2'], async ({ lab, dir, a: r1, b: r2 }) => {
    const [c1, c2] = [join(dir, 'r1.yaml'), join(dir, 'r2.yaml')];
    writeFileSync(c1, conf(200));
    writeFileSync(c2, conf(100));
    const [pid1, vrrp1] = [join(dir, 'r1.pid'), join(dir, 'r1.vrrp.pid')];
    const a = startVigil(lab, r1, c1, ['-p', pid1, '-r', vrrp1]);
    await a.waitFor(/\(VI_1\) Entering MASTER STATE/);
    const b = startVigil(lab, r2, c2, ['-p', join(dir, 'r2.pid'), '-r', join(dir, 'r2.vrrp.pid')]);
    await b.waitFor(/\(VI_1\) Entering BACKUP STATE/);

    // -p holds the parent (the process we started), -r the engine child
    assert.equal(readPid(pid1), a.child.pid);
    const engine = readPid(vrrp1);
    assert.ok(engine > 0 && engine !== a.child.pid && alive(engine), `engine pid ${engine}`);

    process.kill(engine, 'SIGKILL');
    await a.waitFor(new RegExp(`supervisor: engine child ${engine} died unexpectedly \\(signal SIGKILL\\); restarting it \\(1 of at most 5 within 60 s\\)`));
    await until('a new engine pid is in the -r file', 15_000, () => readPid(vrrp1) !== engine && alive(readPid(vrrp1)));
    const restarted = readPid(vrrp1);
    assert.ok(alive(a.child.pid ?? 0), 'the parent lives on');
    await a.waitFor(new RegExp(`supervisor: engine child ${restarted} started`));
    // B took over meanwhile; the new engine removes the VIP its predecessor left, then preempts
    await b.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=master-down-timer/);
    await a.waitFor(new RegExp(`vigil\\[${restarted}\\] info: removed stale address 192\\.0\\.2\\.100/24 from eth0`));
    await a.waitFor(new RegExp(`vigil\\[${restarted}\\] info: \\(VI_1\\) Entering MASTER STATE from=backup reason=preempted`));
    await b.waitFor(/\(VI_1\) Entering BACKUP STATE from=master reason=higher-priority-seen/);

    // converged: the VIP on exactly one node, and it stays so
    for (let i = 0; i < 5; i++) {
      await sleep(200);
      const holders = [r1, r2].filter((ns) => addressesOf(lab, ns, 'eth0').includes(VIP));
      assert.deepEqual(holders, [r1], `exactly one Master holds the VIP (round ${i})`);
    }

    // SIGTERM to the parent: the engine stops cleanly first (priority 0, VIP removed), then the
    // parent exits 0 and removes its pid file
    a.child.kill('SIGTERM');
    assert.equal(await exited(a.child), 0);
    assert.match(a.log(), new RegExp(`supervisor: engine child ${restarted} stopped \\(exit code 0\\); exiting`));
    assert.ok(!alive(restarted), 'the engine is gone');
    assert.ok(!existsSync(pid1) && !existsSync(vrrp1), 'pid files removed');
    assert.ok(!addressesOf(lab, r1, 'eth0').includes(VIP));
    await b.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=priority-zero/);
  });
});

test('supervisor: SIGKILL of the parent takes the engine with it, without a goodbye', { ...skip, timeout: 60_000 }, async () => {
  await withPair(['k1', 'k2'], async ({ lab, dir, a: r1, b: r2 }) => {
    writeFileSync(join(dir, 'r1.yaml'), conf(200));
    writeFileSync(join(dir, 'r2.yaml'), conf(100));
    const vrrp1 = join(dir, 'r1.vrrp.pid');
    const a = startVigil(lab, r1, join(dir, 'r1.yaml'), ['-r', vrrp1]);
    await a.waitFor(/\(VI_1\) Entering MASTER STATE/);
    const b = startVigil(lab, r2, join(dir, 'r2.yaml'));
    await b.waitFor(/\(VI_1\) Entering BACKUP STATE/);
    const engine = readPid(vrrp1);
    assert.ok(alive(engine));

    a.child.kill('SIGKILL');
    await exited(a.child);
    await until('the orphaned engine is gone', 5000, () => !alive(engine));
    // no priority-0 advert: the Backup waits out Master_Down_Interval
    await b.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=master-down-timer/);
    assert.match(a.log(), /supervisor gone: engine exiting at once/);
    assert.ok(addressesOf(lab, r1, 'eth0').includes(VIP), 'the dead engine left its VIP (the next start removes it)');
  });
});

test('supervisor: gives up after 5 restarts within 60 s and exits non-zero', { ...skip, timeout: 90_000 }, async () => {
  await withPair(['g1', 'g2'], async ({ lab, dir, a: r1 }) => {
    writeFileSync(join(dir, 'r1.yaml'), conf(100));
    const [pid1, vrrp1] = [join(dir, 'r1.pid'), join(dir, 'r1.vrrp.pid')];
    const a = startVigil(lab, r1, join(dir, 'r1.yaml'), ['-p', pid1, '-r', vrrp1]);
    let killed = 0;
    let previous = 0;
    for (let i = 0; i <= 5; i++) {
      // each engine up (its READY seen by the parent: -D logs that), then killed
      await until(`engine ${i} is in the -r file`, 20_000, () => readPid(vrrp1) !== previous && alive(readPid(vrrp1)));
      const engine = readPid(vrrp1);
      await a.waitFor(new RegExp(`supervisor: engine child ${engine} ready`), 20_000);
      process.kill(engine, 'SIGKILL');
      killed++;
      previous = engine;
      if (i < 5) await a.waitFor(new RegExp(`restarting it \\(${i + 1} of at most 5 within 60 s\\)`));
    }
    assert.equal(await exited(a.child), 1);
    assert.equal(killed, 6);
    assert.match(a.log(), /died unexpectedly \(signal SIGKILL\); 5 restarts within 60 s already: giving up/);
    assert.ok(!existsSync(pid1) && !existsSync(vrrp1), 'pid files removed');
  });
});
