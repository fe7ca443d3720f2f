// End to end through scripts/lab.sh: two routers and a client on a bridge. The client talks to
// the VIP (so it has a neighbour entry for it), the Master is killed, and the client's entry
// moves to the new Master's MAC because of its gratuitous ARP, without the client asking; with
// use_vmac it stays the VRRP virtual MAC throughout, and the VMAC goes when the daemon stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../lib/netns.ts';
import { exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const labScript = fileURLToPath(new URL('../../scripts/lab.sh', import.meta.url));

function neighbourMac(ns: string, ip: string): string | undefined {
  const out = JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'neigh', 'show', ip], { encoding: 'utf8' })) as Array<{ lladdr?: string }>;
  return out[0]?.lladdr;
}

function macOf(ns: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'cat', '/sys/class/net/eth0/address'], { encoding: 'utf8' }).trim();
}

/** One UDP datagram from the client to the VIP: enough to make the client resolve it. */
function touch(ns: string, ip: string): void {
  execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', `const s=require('dgram').createSocket('udp4');s.send('x',9,'${ip}',()=>s.close())`]);
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

for (const vmac of [false, true]) {
  test(vmac ? 'with use_vmac the client keeps one MAC for the VIP across a failover' : 'a client follows the VIP to the new Master through gratuitous ARP', { ...needs('root', 'ip'), timeout: 90_000 }, async () => {
    const name = `vt${process.pid % 10000}`;
    const lab = new Lab(); // only to own and end the daemons; the namespaces are scripts/lab.sh's
    const dir = mkdtempSync(join(tmpdir(), 'vigil-lab-'));
    try {
      execFileSync(labScript, ['up', '2', name]);
      const conf = (prio: number) =>
        `vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n priority ${prio}\n version 3\n advert_int 0.2\n garp_master_delay 1\n${vmac ? ' use_vmac\n' : ''} virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n`;
      writeFileSync(join(dir, 'r1.conf'), conf(200));
      writeFileSync(join(dir, 'r2.conf'), conf(100));
      const r1 = startVigil(lab, `${name}-r1`, join(dir, 'r1.conf'));
      await r1.waitFor(/Entering MASTER STATE/);
      const r2 = startVigil(lab, `${name}-r2`, join(dir, 'r2.conf'));
      await r2.waitFor(/Entering BACKUP STATE/);

      touch(`${name}-client`, '192.0.2.100');
      // with use_vmac both routers present the VRRP virtual MAC 00-00-5E-00-01-{VRID 7}
      const mac1 = vmac ? '00:00:5e:00:01:07' : macOf(`${name}-r1`);
      const mac2 = vmac ? '00:00:5e:00:01:07' : macOf(`${name}-r2`);
      if (vmac) {
        assert.ok(execFileSync('ip', ['-n', `${name}-r1`, '-br', 'addr', 'show', 'vrrp.7'], { encoding: 'utf8' }).includes('192.0.2.100/24'), 'the VIP is on the VMAC');
      }
      assert.ok(await until(() => neighbourMac(`${name}-client`, '192.0.2.100') === mac1, 5000), 'the client reaches the VIP at r1');
      // with both routers presenting one MAC, two Masters would go unnoticed by the client
      assert.doesNotMatch(r2.log(), /Entering MASTER/, `r2 heard r1's adverts and stayed Backup:\n${r2.log()}`);

      r1.child.kill('SIGKILL');
      await exited(r1.child);
      await r2.waitFor(/Entering MASTER STATE/);
      assert.ok(
        await until(() => neighbourMac(`${name}-client`, '192.0.2.100') === mac2, 3000),
        `the client's neighbour entry follows to r2 (${mac2}); it is ${neighbourMac(`${name}-client`, '192.0.2.100')}`,
      );
      if (vmac) {
        // the client's entry may have been refreshed, but never to another MAC
        assert.doesNotMatch(r2.log(), /dropped advert/);
      }
      r2.child.kill('SIGTERM');
      assert.equal(await exited(r2.child), 0);
      if (vmac) {
        const links = execFileSync('ip', ['-n', `${name}-r2`, '-br', 'link'], { encoding: 'utf8' });
        assert.doesNotMatch(links, /vrrp\.7/, 'the VMAC goes with the daemon');
      }
    } finally {
      await lab.cleanup();
      execFileSync(labScript, ['down', name]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
