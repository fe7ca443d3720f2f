// SIGHUP: a config that fails validation is rejected and the running one stays (the Master keeps
// its VIP); a valid change is applied (here the VIP list changes, so the instance restarts with
// the new address and the old one is gone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, withPair } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';

const conf = (vip: string, vrid = '4') =>
  `vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id ${vrid}\n    version 3\n    advert_int 0.1\n    virtual_ipaddress {\n        ${vip}\n    }\n}\n`;

test('SIGHUP rejects a bad config and applies a good one', { skip: isRoot ? false : 'needs root (CI runs as root)', timeout: 60_000 }, async () => {
  await withPair(['r', 'peer'], async ({ lab, dir, a: r }) => {
    const file = join(dir, 'vigil.conf');
    writeFileSync(file, conf('192.0.2.100/24'));
    const vg = startVigil(lab, r, file);
    await vg.waitFor(/Entering MASTER STATE/);
    await new Promise((res) => setTimeout(res, 300));
    assert.ok(addressesOf(lab, r, 'eth0').includes('192.0.2.100/24'));

    writeFileSync(file, conf('192.0.2.101/24', '300'));
    vg.child.kill('SIGHUP');
    await vg.waitFor(/reload rejected; the running configuration stays/);
    assert.match(vg.log(), new RegExp(`${file}:3:5: vrrp_instance\\.VI_1\\.virtual_router_id: must be 1\\.\\.255`));
    await new Promise((res) => setTimeout(res, 500));
    assert.ok(addressesOf(lab, r, 'eth0').includes('192.0.2.100/24'), 'still Master with the old VIP');
    assert.equal(vg.log().match(/Entering MASTER STATE/g)?.length, 1, 'no transition on a rejected reload');

    writeFileSync(file, conf('192.0.2.101/24'));
    vg.child.kill('SIGHUP');
    await vg.waitFor(/reloaded; restarted: VI_1/);
    await vg.waitFor(/Entering MASTER STATE[\s\S]*Entering MASTER STATE/);
    await new Promise((res) => setTimeout(res, 300));
    const addrs = addressesOf(lab, r, 'eth0');
    assert.ok(addrs.includes('192.0.2.101/24') && !addrs.includes('192.0.2.100/24'), addrs.join(' '));
    vg.child.kill('SIGTERM');
    assert.equal(await exited(vg.child), 0);
  });
});
