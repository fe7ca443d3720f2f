// A vigil node and a keepalived node share one virtual router (VRRPv2 with a password, as most
// keepalived.conf files in the field): each side sees the other's adverts, the higher priority
// holds the VIP, and the role moves both ways on a clean stop and a restart. This is the
// one-node-at-a-time migration users do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, stopChild, waitForOutput, withPair } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';

const VIP = '192.0.2.100/24';

function keepalivedConf(priority: number): string {
  return `vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority ${priority}
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass mig8r8te
    }
    virtual_ipaddress {
        ${VIP}
    }
}
`;
}

test('vigil and keepalived share a virtual router and hand it over both ways', { skip: isRoot ? false : 'needs root (CI runs as root)', timeout: 120_000 }, async () => {
  await withPair(['ka', 'vg'], async ({ lab, dir, a: k, b: v }) => {
    writeFileSync(join(dir, 'keepalived.conf'), keepalivedConf(200));
    // vigil reads the same keepalived.conf format, with a lower priority
    writeFileSync(join(dir, 'vigil.conf'), keepalivedConf(100));
    const startKeepalived = () => {
      const ka = lab.spawn(k, 'keepalived', ['--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp', '-f', join(dir, 'keepalived.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
      let log = '';
      ka.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      ka.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      return { ka, log: () => log };
    };

    let ka = startKeepalived();
    await waitForOutput(ka.ka, /Entering MASTER STATE/, 20_000);
    const vg = startVigil(lab, v, join(dir, 'vigil.conf'));
    await vg.waitFor(/\(VI_1\) Entering BACKUP STATE/);
    await new Promise((r) => setTimeout(r, 4000)); // longer than vigil's Master_Down_Interval
    assert.doesNotMatch(vg.log(), /Entering MASTER/, "vigil accepts keepalived's adverts and stays Backup");
    assert.doesNotMatch(vg.log(), /dropped advert/, 'no advert from keepalived is dropped');
    assert.ok(addressesOf(lab, k, 'eth0').includes(VIP));
    assert.ok(!addressesOf(lab, v, 'eth0').includes(VIP));

    // keepalived stops cleanly: its priority-0 advert hands the role to vigil after Skew_Time
    await stopChild(ka.ka);
    await vg.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=priority-zero/);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(addressesOf(lab, v, 'eth0').includes(VIP), 'vigil holds the VIP');
    assert.ok(!addressesOf(lab, k, 'eth0').includes(VIP));

    // keepalived returns with the higher priority: it must accept vigil's adverts (auth,
    // checksum, interval all agree), then preempt; vigil yields
    ka = startKeepalived();
    await waitForOutput(ka.ka, /Entering MASTER STATE/, 20_000);
    await vg.waitFor(/\(VI_1\) Entering BACKUP STATE from=master reason=higher-priority-seen/);
    assert.doesNotMatch(ka.log(), /(?:bad|invalid|wrong|mismatch)/i, `keepalived found nothing wrong with vigil's adverts:\n${ka.log()}`);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(addressesOf(lab, k, 'eth0').includes(VIP));
    assert.ok(!addressesOf(lab, v, 'eth0').includes(VIP), 'vigil gave the VIP back');

    vg.child.kill('SIGTERM');
    assert.equal(await exited(vg.child), 0);
  });
});
