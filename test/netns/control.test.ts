// The operator's shell at 3 a.m., on two real daemons in two namespaces: `vigil status`,
// `vigil events` and `vigil reload` run as separate processes in the host namespace (the unix
// socket is a file, reachable from any namespace), found from the same -p pid files the
// daemons were started with. A Master crash shows up in the other's status and in the event
// stream, the crashed daemon's socket is reported as not answering and then replaced by its
// restart, SIGUSR1 / SIGUSR2 write their dumps, and a bad config is refused with file:line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild, withPair } from '../lib/netns.ts';
import { exited, follow, startVigil } from '../lib/daemon.ts';
import type { ControlStatus } from '../../src/control/socket.ts';
import type { InstanceStatus } from '../../src/daemon/status.ts';
import { needs } from '../lib/require.ts';

const bin = fileURLToPath(new URL('../../bin/vigil', import.meta.url));

/** bin/vigil with a control subcommand, in the host namespace. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

async function status(pidFile: string): Promise<ControlStatus | undefined> {
  const r = await cli(['status', '--json', '-p', pidFile]);
  return r.code === 0 ? (JSON.parse(r.stdout) as ControlStatus) : undefined;
}

/** Polls `vigil status` until VI_1 satisfies `ok`; returns it. */
async function until(pidFile: string, ok: (i: InstanceStatus) => boolean, what: string, ms = 20_000): Promise<InstanceStatus> {
  const end = Date.now() + ms;
  let last: InstanceStatus | undefined;
  while (Date.now() < end) {
    last = (await status(pidFile))?.engine.instances.find((i) => i.name === 'VI_1');
    if (last && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last)}`);
}

function config(dir: string, name: string, priority: number, vrid = 61): string {
  return `vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: ${vrid}
    priority: ${priority}
    version: 3
    advert_int: 0.2
    virtual_ipaddress:
      - address: 192.0.2.100/24
control:
  state_dump: ${join(dir, `${name}.data`)}
  stats_dump: ${join(dir, `${name}.stats`)}
`;
}

test('vigil status / events / reload and the SIGUSR1/SIGUSR2 dumps on two daemons in namespaces', { ...needs('root', 'ip'), timeout: 120_000 }, async () => {
  await withPair(['c1', 'c2'], async ({ lab, dir, a: r1, b: r2 }) => {
    const c1 = join(dir, 'r1.yaml');
    const c2 = join(dir, 'r2.yaml');
    const p1 = join(dir, 'r1.pid');
    const p2 = join(dir, 'r2.pid');
    writeFileSync(c1, config(dir, 'r1', 200));
    writeFileSync(c2, config(dir, 'r2', 100));
    const followers: ChildProcess[] = [];
    try {
      let a = startVigil(lab, r1, c1, ['-p', p1]);
      const m1 = await until(p1, (i) => i.state === 'master', 'r1 Master').catch((e: Error) => assert.fail(`${e.message}\n${a.log()}`));
      const b = startVigil(lab, r2, c2, ['-p', p2]);
      const b1 = await until(p2, (i) => i.state === 'backup' && i.masterAddress === '192.0.2.1', 'r2 Backup seeing r1').catch((e: Error) => assert.fail(`${e.message}\n${b.log()}`));
      assert.deepEqual([m1.basePriority, m1.effectivePriority], [200, 200]);
      assert.deepEqual([b1.basePriority, b1.effectivePriority], [100, 100]);
      assert.ok((b1.counters?.advertsReceived ?? 0) > 0, 'the Backup counts the adverts it hears');
      assert.equal(statSync(join(dir, 'r1.sock')).mode & 0o777, 0o600);
      assert.equal(statSync(join(dir, 'r2.sock')).mode & 0o777, 0o600);

      // the table, as an operator sees it
      const table = await cli(['status', '-p', p2]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /VI_1\s+BACKUP\s+100\/100\s+-\s+192\.0\.2\.1\s+INIT->BACKUP startup/);

      // follow r2's events, then crash the Master
      const evChild = spawn(process.execPath, [bin, 'events', '-p', p2], { stdio: ['ignore', 'pipe', 'pipe'] });
      followers.push(evChild);
      const ev = follow(evChild);
      await ev.waitFor(/following events on/);
      a.child.kill('SIGKILL');
      await exited(a.child);
      const took = await until(p2, (i) => i.state === 'master', 'r2 Master after the crash');
      assert.equal(took.transitions.at(-1)?.reason, 'master-down-timer');
      assert.equal(took.masterAddress, '192.0.2.2');
      await ev.waitFor(/instance\.transition VI_1 BACKUP -> MASTER reason=master-down-timer priority=100/);

      // the crashed daemon's socket file is still there, and nobody answers on it
      assert.ok(existsSync(join(dir, 'r1.sock')));
      const dead = await cli(['status', '-p', p1]);
      assert.equal(dead.code, 1);
      assert.equal(dead.stderr, `vigil status: no vigil daemon answers on ${join(dir, 'r1.sock')} (started with the same -f/-p?)\n`);

      // dumps, where the config puts them
      const pid2 = Number(readFileSync(p2, 'utf8'));
      process.kill(pid2, 'SIGUSR1');
      process.kill(pid2, 'SIGUSR2');
      const data = join(dir, 'r2.data');
      const stats = join(dir, 'r2.stats');
      for (let i = 0; i < 100 && !(existsSync(data) && existsSync(stats)); i++) await new Promise((r) => setTimeout(r, 50));
      const stateText = readFileSync(data, 'utf8');
      assert.match(stateText, /VRRP Instance = VI_1\n\s+VRRP Version = 3\n\s+State = MASTER\n\s+Last transition = .*BACKUP -> MASTER, reason master-down-timer/);
      assert.match(stateText, /Virtual IP \(1\):\n\s+192\.0\.2\.100\/24 dev eth0/);
      const statsText = readFileSync(stats, 'utf8');
      assert.match(statsText, /VRRP Instance: VI_1\n\s+Advertisements:\n\s+Received: [1-9]\d*\n\s+Sent: [1-9]\d*\n\s+Became master: 1\n\s+Released master: 0\n/);
      assert.ok(b.child.exitCode === null, 'the signals did not end the daemon');

      // the restarted r1 replaces its stale socket, answers again and preempts
      a = startVigil(lab, r1, c1, ['-p', p1]);
      await until(p1, (i) => i.state === 'master', 'r1 Master again').catch((e: Error) => assert.fail(`${e.message}\n${a.log()}`));
      await until(p2, (i) => i.state === 'backup', 'r2 Backup again');
      await ev.waitFor(/instance\.transition VI_1 MASTER -> BACKUP reason=higher-priority-seen/);

      // a bad config: refused with file:line, exit non-zero, r2 keeps running as it was
      writeFileSync(c2, config(dir, 'r2', 100, 300));
      const bad = await cli(['reload', '-p', p2]);
      assert.equal(bad.code, 1, bad.stdout + bad.stderr);
      assert.match(bad.stderr, /reload rejected; the running configuration stays:/);
      assert.match(bad.stderr, new RegExp(`${c2.replace(/[.]/g, '\\.')}:4:\\d+: vrrp_instance\\.VI_1\\.virtual_router_id: must be 1\\.\\.255`));
      assert.equal((await status(p2))?.engine.instances[0]?.vrid, 61);

      // a good one: applied (the file watcher may have taken it first: then nothing is left)
      writeFileSync(c2, config(dir, 'r2', 110));
      const good = await cli(['reload', '-p', p2]);
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stdout, /reload applied\n\s+unchanged:\s+(VI_1|-)\n\s+updated:\s+(VI_1|-)\n/);
      await until(p2, (i) => i.basePriority === 110 && i.effectivePriority === 110, 'r2 at priority 110');

      // a clean stop removes the socket; the follower is told
      b.child.kill('SIGTERM');
      assert.equal(await exited(b.child), 0);
      assert.equal(existsSync(join(dir, 'r2.sock')), false, 'socket removed on stop');
      await ev.waitFor(/the daemon closed the connection/);
      assert.equal(await exited(evChild), 1);
      a.child.kill('SIGTERM');
      assert.equal(await exited(a.child), 0);
      assert.equal(existsSync(join(dir, 'r1.sock')), false);
    } finally {
      await Promise.all(followers.map((c) => stopChild(c)));
    }
  });
});
