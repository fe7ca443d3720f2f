// Two vigil daemons on real interfaces in namespaces: election, the VIP on the Master only, a
// crash (SIGKILL) handing over after Master_Down_Interval, the restarted higher priority
// cleaning up the address its crash left and preempting, and SIGTERM handing over at once with
// a priority-0 advert.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPair } from '../lib/netns.ts';
import { addressesOf, exited, startVigil, tentativeOf } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

interface Variant {
  name: string;
  vip: string;
  /** Extra YAML lines of the instance, given the peer's address and this router's number. */
  extra: (peer: string, self: number) => string;
}

const VARIANTS: Variant[] = [
  { name: 'IPv4 multicast', vip: '192.0.2.100/24', extra: () => '' },
  { name: 'IPv4 unicast peers', vip: '192.0.2.100/24', extra: (peer) => `    unicast_peer: [${peer}]\n` },
  { name: 'IPv6 multicast', vip: '2001:db8::100/64', extra: () => '' },
  {
    // secondary addresses 192.0.2.11 / .12 as unicast_src_ip, each listed as the other's peer
    name: 'IPv4 unicast from a secondary address',
    vip: '192.0.2.100/24',
    extra: (_peer, self) => `    unicast_src_ip: 192.0.2.1${self}\n    unicast_peer: [192.0.2.1${3 - self}]\n`,
  },
];

function config(priority: number, v: Variant, peer: string, self: number): string {
  return `vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 51
    priority: ${priority}
    version: 3
    advert_int: 0.2
${v.extra(peer, self)}    virtual_ipaddress:
      - address: ${v.vip}
`;
}

for (const variant of VARIANTS) {
  const VIP = variant.vip;
  test(`two vigil daemons fail over on real interfaces (${variant.name})`, { ...needs('root', 'ip'), timeout: 90_000 }, async () => {
    await withPair(['r1', 'r2'], async ({ lab, dir, a: r1, b: r2 }) => {
      const c1 = join(dir, 'r1.yaml');
      const c2 = join(dir, 'r2.yaml');
      lab.exec(r1, 'ip', ['addr', 'add', '192.0.2.11/24', 'dev', 'eth0']);
      lab.exec(r2, 'ip', ['addr', 'add', '192.0.2.12/24', 'dev', 'eth0']);
      // the lab turns DAD off to have link-local addresses at once; a real host runs it, and a
      // VIP added with DAD would stay "tentative" (unusable) for a second or more
      if (VIP.includes(':')) for (const ns of [r1, r2]) lab.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.eth0.accept_dad=1']);
      writeFileSync(c1, config(200, variant, '192.0.2.2', 1));
      writeFileSync(c2, config(100, variant, '192.0.2.1', 2));

      // A first: started together, whichever process is up first would win the first election
      // (correctly), and A would only preempt later
      let a = startVigil(lab, r1, c1, ['-p', join(dir, 'r1.pid')]);
      await a.waitFor(/\(VI_1\) Entering MASTER STATE/);
      const b = startVigil(lab, r2, c2, ['-p', join(dir, 'r2.pid')]);
      await b.waitFor(/\(VI_1\) Entering BACKUP STATE/);
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(addressesOf(lab, r1, 'eth0').includes(VIP), 'the Master holds the VIP');
      assert.ok(!addressesOf(lab, r2, 'eth0').includes(VIP), 'the Backup does not');
      assert.doesNotMatch(b.log(), /Entering MASTER/, `the lower priority never became Master:\n${b.log()}`);

      // crash: no priority-0 advert; B waits Master_Down_Interval (3 x 0.2 s + skew)
      a.child.kill('SIGKILL');
      await exited(a.child);
      await b.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=master-down-timer/);
      if (variant.name.includes('secondary')) assert.match(b.log(), /reason=master-down-timer priority=100 detail=192\.0\.2\.11/, "A's adverts came from its unicast_src_ip");
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(addressesOf(lab, r2, 'eth0').includes(VIP), 'B took the VIP');
      if (VIP.includes(':')) {
        // added without DAD, as keepalived does: usable at once, not "tentative" for the 1 s or
        // more of a DAD round (the kernel neither answers for nor sends from a tentative address)
        assert.deepEqual(tentativeOf(lab, r2, 'eth0'), [], 'the new Master\'s IPv6 VIP is usable 300 ms after the takeover');
      }
      assert.ok(addressesOf(lab, r1, 'eth0').includes(VIP), 'the crashed A left its VIP behind');

      // restart A: it removes the stale VIP before the election, then preempts B
      a = startVigil(lab, r1, c1, ['-p', join(dir, 'r1.pid')]);
      await a.waitFor(new RegExp(`removed stale address ${VIP.replace(/\./g, '\\.')} from eth0`));
      await a.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=preempted/);
      await b.waitFor(/\(VI_1\) Entering BACKUP STATE from=master reason=higher-priority-seen/);
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(addressesOf(lab, r1, 'eth0').includes(VIP));
      assert.ok(!addressesOf(lab, r2, 'eth0').includes(VIP), 'B gave the VIP back');

      // clean stop: priority 0, B takes over after Skew_Time, A removes its VIP and exits 0
      a.child.kill('SIGTERM');
      assert.equal(await exited(a.child), 0);
      await b.waitFor(/\(VI_1\) Entering MASTER STATE from=backup reason=priority-zero/);
      assert.ok(!addressesOf(lab, r1, 'eth0').includes(VIP), 'a stopped Master leaves no VIP');
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(addressesOf(lab, r2, 'eth0').includes(VIP));
      b.child.kill('SIGTERM');
      assert.equal(await exited(b.child), 0);
      assert.ok(!addressesOf(lab, r2, 'eth0').includes(VIP));
    });
  });
}
