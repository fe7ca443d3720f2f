// A vigil node and a keepalived node share one virtual router: each side accepts the other's
// adverts, the higher priority holds the VIP, and the role moves both ways, on a clean stop and
// on a kill, for VRRPv2 with a password, v3 over IPv4, v3 over IPv6 and unicast peers. This is
// the one-node-at-a-time migration users do. Both daemons must agree on who is Master.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopChild, withPair, type Lab } from '../lib/netns.ts';
import { addressesOf, exited, keepalivedComplaints, killAllIn, startKeepalived, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

interface Variant {
  name: string;
  vip: string;
  /** Where the Master puts the VIP (default eth0; the VMAC with use_vmac). */
  dev?: string;
  /** Extra keepalived.conf lines of the instance; `peer` is the other router's address. */
  lines: (peer: string) => string;
}

const VARIANTS: Variant[] = [
  { name: 'v2 with a password', vip: '192.0.2.100/24', lines: () => '    authentication {\n        auth_type PASS\n        auth_pass mig8r8te\n    }\n' },
  { name: 'v3 IPv4', vip: '192.0.2.100/24', lines: () => '    version 3\n' },
  { name: 'v3 IPv6', vip: '2001:db8::100/64', lines: () => '    version 3\n' },
  { name: 'v2 unicast', vip: '192.0.2.100/24', lines: (peer) => `    unicast_peer {\n        ${peer}\n    }\n` },
  // both nodes present the virtual MAC, and each must hear the other through its own VMAC
  { name: 'v3 IPv4 use_vmac', vip: '192.0.2.100/24', dev: 'vrrp.51', lines: () => '    version 3\n    use_vmac\n' },
  { name: 'v3 IPv6 use_vmac', vip: '2001:db8::100/64', dev: 'vrrp.51', lines: () => '    version 3\n    use_vmac\n' },
];

function conf(v: Variant, priority: number, peer: string): string {
  return `vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority ${priority}
    advert_int 1
${v.lines(peer)}    virtual_ipaddress {
        ${v.vip}
    }
}
`;
}

function holds(lab: Lab, ns: string, v: Variant): boolean {
  const dev = v.dev ?? 'eth0';
  try {
    return addressesOf(lab, ns, dev).includes(v.vip);
  } catch {
    return false; // no VMAC (yet, or any more) on this node
  }
}

describe('vigil and keepalived in one virtual router', { ...needs('root', 'ip', 'keepalived') }, () => {
  for (const v of VARIANTS) {
    test(`${v.name}: keepalived Master, vigil Backup, and back`, { timeout: 120_000 }, async () => {
      await withPair(['ka', 'vg'], async ({ lab, dir, a: k, b: g }) => {
        writeFileSync(join(dir, 'keepalived.conf'), conf(v, 200, '192.0.2.2'));
        writeFileSync(join(dir, 'vigil.conf'), conf(v, 100, '192.0.2.1'));
        let ka = startKeepalived(lab, k, join(dir, 'keepalived.conf'), dir);
        await ka.waitFor(/Entering MASTER STATE/);
        const vg = startVigil(lab, g, join(dir, 'vigil.conf'));
        await vg.waitFor(/\(VI_1\) Entering BACKUP STATE/);
        await new Promise((r) => setTimeout(r, 4000)); // past vigil's Master_Down_Interval
        assert.doesNotMatch(vg.log(), /Entering MASTER|dropped advert/, "vigil accepts keepalived's adverts and stays Backup");
        assert.ok(holds(lab, k, v) && !holds(lab, g, v));

        // keepalived stops cleanly: vigil takes over after Skew_Time
        await stopChild(ka.child);
        await vg.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=priority-zero/);
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(holds(lab, g, v) && !holds(lab, k, v));

        // keepalived returns with the higher priority and preempts vigil
        ka = startKeepalived(lab, k, join(dir, 'keepalived.conf'), dir);
        await ka.waitFor(/Entering MASTER STATE/);
        await vg.waitFor(/\(VI_1\) Entering BACKUP STATE from=master reason=higher-priority-seen/);
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(holds(lab, k, v) && !holds(lab, g, v));

        // keepalived is killed: vigil takes over after Master_Down_Interval
        killAllIn(k);
        await exited(ka.child);
        await vg.waitFor(/Entering MASTER STATE[\s\S]*Entering BACKUP STATE[\s\S]*Entering MASTER STATE from=backup reason=master-down-timer/);
        assert.deepEqual(keepalivedComplaints(ka.log()), [], "keepalived found nothing wrong with vigil's adverts");
        vg.child.kill('SIGTERM');
        assert.equal(await exited(vg.child), 0);
      });
    });

    test(`${v.name}: vigil Master, keepalived Backup, and back`, { timeout: 120_000 }, async () => {
      await withPair(['vg', 'ka'], async ({ lab, dir, a: g, b: k }) => {
        writeFileSync(join(dir, 'vigil.conf'), conf(v, 200, '192.0.2.2'));
        writeFileSync(join(dir, 'keepalived.conf'), conf(v, 100, '192.0.2.1'));
        let vg = startVigil(lab, g, join(dir, 'vigil.conf'));
        await vg.waitFor(/\(VI_1\) Entering MASTER STATE/);
        const ka = startKeepalived(lab, k, join(dir, 'keepalived.conf'), dir);
        await ka.waitFor(/Entering BACKUP STATE/);
        await new Promise((r) => setTimeout(r, 4500));
        assert.doesNotMatch(ka.log(), /Entering MASTER STATE/, "keepalived accepts vigil's adverts and stays Backup");
        assert.ok(holds(lab, g, v) && !holds(lab, k, v));

        // vigil stops cleanly: keepalived takes over at once
        vg.child.kill('SIGTERM');
        assert.equal(await exited(vg.child), 0);
        await ka.waitFor(/Entering MASTER STATE/, 5000);
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(holds(lab, k, v) && !holds(lab, g, v));

        // vigil returns with the higher priority and preempts keepalived
        vg = startVigil(lab, g, join(dir, 'vigil.conf'));
        await vg.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=preempted/);
        await ka.waitFor(/Entering MASTER STATE[\s\S]*Entering BACKUP STATE/, 10_000);
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(holds(lab, g, v) && !holds(lab, k, v));

        // vigil is killed: keepalived takes over after its Master_Down_Interval
        vg.child.kill('SIGKILL');
        await exited(vg.child);
        await ka.waitFor(/Entering MASTER STATE[\s\S]*Entering BACKUP STATE[\s\S]*Entering MASTER STATE/, 10_000);
        assert.deepEqual(keepalivedComplaints(ka.log()), [], "keepalived found nothing wrong with vigil's adverts");
        await stopChild(ka.child);
      });
    });
  }
});
