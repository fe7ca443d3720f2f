// keepalived's vrrp_track_process end to end: the Master tracks a process (a copy of sleep under
// a name of this test's own); when it dies the Master goes to FAULT and the Backup takes the
// VIP; when it runs again the Master takes it back. Both read from keepalived.conf as written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPair } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

function config(priority: number, tracked: string | undefined): string {
  return `${tracked ? `vrrp_track_process chk_svc {\n    process ${tracked}\n    weight 0\n}\n` : ''}vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority ${priority}
    version 3
    advert_int 0.2
    virtual_ipaddress {
        192.0.2.100/24
    }
${tracked ? '    track_process {\n        chk_svc\n    }\n' : ''}}
`;
}

test('track_process: the tracked process dies, the Master goes to FAULT and the Backup serves; it returns, and so does the VIP', { ...needs('root', 'ip'), timeout: 90_000 }, async () => {
  await withPair(['r1', 'r2'], async ({ lab, dir, a: r1, b: r2 }) => {
    const name = `vgsvc${process.pid % 100000}`;
    const exe = join(dir, name);
    copyFileSync('/bin/sleep', exe);
    const svc: ChildProcess[] = [];
    const startSvc = () => {
      const c = spawn(exe, ['120'], { stdio: 'ignore' });
      svc.push(c);
      return c;
    };
    try {
      let s = startSvc();
      writeFileSync(join(dir, 'r1.conf'), config(200, name));
      writeFileSync(join(dir, 'r2.conf'), config(100, undefined));
      const a = startVigil(lab, r1, join(dir, 'r1.conf'), ['-p', join(dir, 'r1.pid')]);
      await a.waitFor(/\(VI_1\) Entering MASTER STATE/);
      const b = startVigil(lab, r2, join(dir, 'r2.conf'), ['-p', join(dir, 'r2.pid')]);
      await b.waitFor(/\(VI_1\) Entering BACKUP STATE/);
      await new Promise((r) => setTimeout(r, 800));
      assert.doesNotMatch(b.log(), /Entering MASTER/);

      s.kill('SIGKILL');
      await exited(s);
      await a.waitFor(/\(VI_1\) Entering FAULT STATE/);
      await b.waitFor(/\(VI_1\) Entering MASTER STATE/);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(addressesOf(lab, r2, 'eth0').includes('192.0.2.100/24'), 'the Backup took the VIP');
      assert.ok(!addressesOf(lab, r1, 'eth0').includes('192.0.2.100/24'), 'the node in FAULT gave it up');

      s = startSvc();
      await a.waitFor(/\(VI_1\) Entering MASTER STATE[\s\S]*Entering FAULT STATE[\s\S]*Entering (?:BACKUP|MASTER) STATE/);
      await b.waitFor(/\(VI_1\) Entering MASTER STATE[\s\S]*Entering BACKUP STATE/);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(addressesOf(lab, r1, 'eth0').includes('192.0.2.100/24'), 'the higher priority is back in charge');
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      assert.equal(await exited(a.child), 0);
      assert.equal(await exited(b.child), 0);
    } finally {
      for (const c of svc) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  });
});
