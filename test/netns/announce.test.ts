// Announcements on the wire: when vigil becomes Master it sends gratuitous ARP for its IPv4
// VIPs (broadcast, sender = target = VIP, from the interface MAC) and unsolicited Neighbor
// Advertisements for its IPv6 VIPs (hop limit 255, override flag), garp_master_repeat of each
// at once and again after garp_master_delay. A tcpdump in the peer namespace is the witness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopChild, waitForOutput, withPair, type Lab } from '../lib/netns.ts';
import { exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

test('gratuitous ARP and unsolicited NA after a takeover', { ...needs('root', 'ip', 'tcpdump'), timeout: 60_000 }, async () => {
  await withPair(['r', 'peer'], async ({ lab, dir, a: r, b: peer }) => {
    const mac = readMac(lab, r);
    const conf = join(dir, 'vigil.conf');
    writeFileSync(
      conf,
      `vrrp_instance V4 {
    interface eth0
    virtual_router_id 1
    version 3
    advert_int 0.1
    garp_master_delay 1
    garp_master_repeat 2
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.101/24
    }
}
vrrp_instance V6 {
    interface eth0
    virtual_router_id 2
    advert_int 0.1
    garp_master_delay 1
    garp_master_repeat 2
    virtual_ipaddress {
        2001:db8::100/64
    }
}
`,
    );
    const dump = lab.spawn(peer, 'tcpdump', ['-i', 'eth0', '-n', '-e', '-l', '-v', 'arp or (icmp6 and ip6[40] == 136)']);
    let seen = '';
    dump.stdout?.on('data', (d: Buffer) => (seen += d.toString()));
    await waitForOutput(dump, /listening on/, 10_000);
    const vg = startVigil(lab, r, conf);
    await vg.waitFor(/\(V4\) Entering MASTER STATE/);
    await vg.waitFor(/\(V6\) Entering MASTER STATE/);
    await new Promise((res) => setTimeout(res, 2500)); // the second round comes after 1 s
    await stopChild(dump, 'SIGINT');

    const lines = seen.split('\n');
    for (const vip of ['192.0.2.100', '192.0.2.101']) {
      const garps = lines.filter((l) => l.includes(`${mac} > ff:ff:ff:ff:ff:ff, ethertype ARP`) && l.includes(`Request who-has ${vip} (ff:ff:ff:ff:ff:ff) tell ${vip},`));
      assert.equal(garps.length, 4, `2 now + 2 after garp_master_delay for ${vip}:\n${seen}`);
    }
    const nas = seen.split(/\n(?=\d)/).filter((l) => l.includes('neighbor advertisement') && l.includes('tgt is 2001:db8::100'));
    assert.equal(nas.length, 4, `2 now + 2 later:\n${seen}`);
    for (const na of nas) {
      assert.match(na, /hlim 255/);
      assert.match(na, /> 33:33:00:00:00:01/);
      assert.match(na, /Flags \[override\]/);
      assert.ok(na.includes(`link-address option (2), length 8 (1): ${mac}`), 'target link-layer address option carries the interface MAC');
    }
    vg.child.kill('SIGTERM');
    assert.equal(await exited(vg.child), 0);
  });
});

function readMac(lab: Lab, ns: string): string {
  return lab.exec(ns, 'cat', ['/sys/class/net/eth0/address']).trim();
}

