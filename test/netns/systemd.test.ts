// systemd's notify protocol from a real daemon, received on a real AF_UNIX datagram socket (a
// python3 receiver standing in for systemd): READY=1 once the instance runs, RELOADING=1 then
// READY=1 around a SIGHUP reload, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1 on SIGTERM; all
// from the pid systemd would know as MAINPID (the supervising parent by default, so the default
// NotifyAccess=main accepts them), and the same without the supervisor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withPair } from '../lib/netns.ts';
import { exited, follow } from '../lib/daemon.ts';
import { notifyReceiver } from '../lib/notify-receiver.ts';
import { needs } from '../lib/require.ts';

const bin = fileURLToPath(new URL('../../bin/vigil', import.meta.url));
const skip = needs('root', 'ip', 'python3');

const conf = `vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 62
    version: 3
    advert_int: 0.2
    virtual_ipaddress:
      - address: 192.0.2.100/24
`;

for (const mode of ['supervised', 'no-supervise'] as const) {
  test(`systemd notify from a real daemon (${mode})`, { ...skip, timeout: 60_000 }, async () => {
    await withPair([`n${mode[0]}1`, `n${mode[0]}2`], async ({ lab, dir, a: r1 }) => {
      const file = join(dir, 'vigil.yaml');
      writeFileSync(file, conf);
      // a path socket: abstract names belong to a network namespace, paths do not
      const rx = await notifyReceiver(join(dir, 'notify.sock'));
      try {
        const args = ['-n', '-l', '-D', '-f', file, ...(mode === 'no-supervise' ? ['--no-supervise'] : [])];
        // env(1) sets systemd's variables for the daemon only: 400 ms watchdog, pings every 200 ms
        const vg = follow(lab.spawn(r1, 'env', [`NOTIFY_SOCKET=${join(dir, 'notify.sock')}`, 'WATCHDOG_USEC=400000', process.execPath, bin, ...args]));
        const mainPid = vg.child.pid;
        const ready = await rx.waitFor(/^READY=1$/m);
        assert.equal(ready.pid, mainPid, 'sent by the main pid');
        assert.match(ready.msg, /STATUS=1 VRRP instance\(s\) running/);
        assert.match(ready.msg, new RegExp(`MAINPID=${mainPid}`));
        assert.match(vg.log(), /\(VI_1\) Entering (BACKUP|MASTER) STATE/, 'READY=1 only once the instance runs');

        const pings = rx.messages.length;
        await rx.waitFor(/^WATCHDOG=1$/, 2000, pings);
        await rx.waitFor(/^WATCHDOG=1$/, 2000, rx.messages.findIndex((m, i) => i >= pings && m.msg === 'WATCHDOG=1') + 1);

        const before = rx.messages.length;
        vg.child.kill('SIGHUP');
        const reloading = await rx.waitFor(/^RELOADING=1\nMONOTONIC_USEC=\d+$/, 10_000, before);
        const again = await rx.waitFor(/^READY=1\nSTATUS=configuration reloaded$/, 10_000, rx.messages.indexOf(reloading) + 1);
        assert.equal(again.pid, mainPid);
        await vg.waitFor(/SIGHUP: reloaded/);

        vg.child.kill('SIGTERM');
        const stopping = await rx.waitFor(/^STOPPING=1$/, 10_000);
        assert.equal(stopping.pid, mainPid);
        assert.equal(await exited(vg.child), 0);
        assert.ok(rx.messages.every((m) => m.pid === mainPid), `every message from the main pid: ${JSON.stringify(rx.messages)}`);
      } finally {
        rx.close();
      }
    });
  });
}
