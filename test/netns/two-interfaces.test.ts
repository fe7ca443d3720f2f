// One daemon, two interfaces, the same VRID on both: the instances are separate virtual routers
// (sockets are bound to their device), so this host is Master on one link and Backup on the
// other at the same time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPair } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const instance = (name: string, iface: string, prio: number, vip: string) =>
  `vrrp_instance ${name} {\n interface ${iface}\n virtual_router_id 1\n priority ${prio}\n version 3\n advert_int 0.2\n virtual_ipaddress {\n  ${vip}\n }\n}\n`;

test('one host, two interfaces, VRID 1 on each: Master on one, Backup on the other', { ...needs('root', 'ip'), timeout: 60_000 }, async () => {
  await withPair(['host', 'p1'], async ({ lab, dir, a: host, b: p1 }) => {
    const p2 = lab.addNamespace('p2');
    lab.veth(host, 'eth1', p2, 'eth0');
    lab.exec(host, 'ip', ['addr', 'add', '198.51.100.1/24', 'dev', 'eth1']);
    lab.exec(p2, 'ip', ['addr', 'add', '198.51.100.2/24', 'dev', 'eth0']);
    writeFileSync(join(dir, 'host.conf'), instance('LAN_A', 'eth0', 200, '192.0.2.100/24') + instance('LAN_B', 'eth1', 100, '198.51.100.100/24'));
    writeFileSync(join(dir, 'p1.conf'), instance('LAN_A', 'eth0', 100, '192.0.2.100/24'));
    writeFileSync(join(dir, 'p2.conf'), instance('LAN_B', 'eth0', 200, '198.51.100.100/24'));
    const peer2 = startVigil(lab, p2, join(dir, 'p2.conf'));
    await peer2.waitFor(/\(LAN_B\) Entering MASTER STATE/);
    const h = startVigil(lab, host, join(dir, 'host.conf'));
    await h.waitFor(/\(LAN_A\) Entering MASTER STATE/);
    const peer1 = startVigil(lab, p1, join(dir, 'p1.conf'));
    await peer1.waitFor(/\(LAN_A\) Entering BACKUP STATE/);
    await new Promise((res) => setTimeout(res, 1500));
    assert.doesNotMatch(h.log(), /\(LAN_B\) Entering MASTER/, 'the host stays Backup on eth1');
    assert.doesNotMatch(peer1.log(), /Entering MASTER/);
    assert.doesNotMatch(h.log(), /dropped advert/, "neither link's adverts leak into the other instance");
    assert.ok(addressesOf(lab, host, 'eth0').includes('192.0.2.100/24'));
    assert.ok(!addressesOf(lab, host, 'eth1').includes('198.51.100.100/24'));
    assert.ok(addressesOf(lab, p2, 'eth0').includes('198.51.100.100/24'));
    for (const d of [h, peer1, peer2]) {
      d.child.kill('SIGTERM');
      assert.equal(await exited(d.child), 0);
    }
  });
});
