// use_vmac, IPv4 and IPv6: the Master's adverts leave from the VMAC, so their source MAC is the
// virtual one (00-00-5E-00-01-VRID, IPv6 00-00-5E-00-02-VRID) and switches learn where it lives
// from them; their source address stays the base interface's address (IPv6: its link-local
// address, which the checksum covers; the VMAC carries that one and no generated one). The
// Backup, which has the same VMAC, must still hear them: the kernel hands a multicast frame
// whose source MAC is a local macvlan's to that macvlan only, so the Backup listens there too.
// A tcpdump in the Backup's namespace is the witness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopChild, waitForOutput, withPair, type Lab } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';
import { readPcapVrrp } from '../lib/pcap.ts';
import { needs } from '../lib/require.ts';

const VARIANTS = [
  { family: 4 as const, vmac: '00:00:5e:00:01:33', link: 'vrrp.51', vip: '192.0.2.100/24', filter: 'ip proto 112' },
  { family: 6 as const, vmac: '00:00:5e:00:02:33', link: 'vrrp.51', vip: '2001:db8::100/64', filter: 'ip6 proto 112' },
];

function config(priority: number, vip: string): string {
  return `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority ${priority}
    version 3
    advert_int 0.2
    use_vmac
    virtual_ipaddress {
        ${vip}
    }
}
`;
}

function arpIgnore(lab: Lab, ns: string): string {
  return lab.exec(ns, 'cat', ['/proc/sys/net/ipv4/conf/eth0/arp_ignore']).trim();
}

function linkLocalOf(lab: Lab, ns: string, ifname: string): string[] {
  return addressesOf(lab, ns, ifname).filter((a) => a.startsWith('fe80:'));
}

for (const v of VARIANTS) {
  test(`use_vmac, IPv${v.family}: adverts leave from the VMAC, the Backup hears them, one Master`, { ...needs('root', 'ip', 'tcpdump'), timeout: 90_000 }, async () => {
    await withPair(['r1', 'r2'], async ({ lab, dir, a: r1, b: r2 }) => {
      const c1 = join(dir, 'r1.conf');
      const c2 = join(dir, 'r2.conf');
      writeFileSync(c1, config(200, v.vip));
      writeFileSync(c2, config(100, v.vip));
      const [baseLL] = linkLocalOf(lab, r1, 'eth0');
      assert.ok(baseLL, 'r1 has a link-local address on eth0');
      const source = v.family === 4 ? '192.0.2.1' : baseLL.split('/')[0];

      assert.equal(arpIgnore(lab, r2), '0');
      const a = startVigil(lab, r1, c1, ['-p', join(dir, 'r1.pid')]);
      await a.waitFor(/\(VI_1\) Entering MASTER STATE/);
      assert.match(a.log(), new RegExp(`created ${v.link.replace('.', '\\.')} on eth0`));
      const b = startVigil(lab, r2, c2, ['-p', join(dir, 'r2.pid')]);
      await b.waitFor(/\(VI_1\) Entering BACKUP STATE/);

      const pcap = join(dir, 'adverts.pcap');
      const dump = lab.spawn(r2, 'tcpdump', ['-i', 'eth0', '-n', '-U', '-w', pcap, v.filter]);
      await waitForOutput(dump, /listening on/, 10_000);
      await new Promise((r) => setTimeout(r, 2000)); // the Backup would take over after ~0.6 s
      await stopChild(dump, 'SIGINT');

      const adverts = readPcapVrrp(readFileSync(pcap)).filter((p) => p.family === v.family);
      const seen = adverts.map((p) => `${p.srcMac} ${p.src}`).join('\n');
      assert.ok(adverts.length >= 7, `the Master advertised every 200 ms (${adverts.length} adverts in 2 s)`);
      for (const p of adverts) {
        assert.equal(`${p.srcMac} ${p.src}`, `${v.vmac} ${source}`, `every advert on the wire is the Master's, from the VMAC:\n${seen}`);
        assert.equal(p.ttl, 255);
      }
      assert.doesNotMatch(b.log(), /Entering MASTER/, `the Backup heard the Master through its own VMAC:\n${b.log()}`);
      assert.ok(addressesOf(lab, r1, v.link).includes(v.vip), 'the VIP is on the VMAC');
      assert.ok(!addressesOf(lab, r2, v.link).includes(v.vip), 'and not on the Backup');
      if (v.family === 6) assert.deepEqual(linkLocalOf(lab, r1, v.link), [baseLL], 'the VMAC carries the base link-local address and no generated one');
      // the base interface leaves ARP for the VIPs to the VMAC (keepalived's setting)
      assert.equal(arpIgnore(lab, r2), '1', 'arp_ignore=1 on the base while it has a VMAC');

      // node death of the Master: the Backup takes over after Master_Down_Interval
      a.child.kill('SIGKILL');
      await exited(a.child);
      await b.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=master-down-timer/);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(addressesOf(lab, r2, v.link).includes(v.vip), 'the new Master put the VIP on its VMAC');

      b.child.kill('SIGTERM');
      assert.equal(await exited(b.child), 0);
      assert.equal(arpIgnore(lab, r2), '0', "the base interface's own arp_ignore is back");
      assert.doesNotMatch(lab.exec(r2, 'ip', ['-br', 'link']), new RegExp(v.link.replace('.', '\\.')), 'the VMAC goes with the daemon');
    });
  });
}
