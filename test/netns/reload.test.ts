// Reloads, on SIGHUP and on an edit of the config file (no signal): a config that fails
// validation is rejected and the running one stays (the Master keeps its VIP, no transition);
// a valid change is applied as a diff: a new VIP list is taken in place by the running Master
// (no transition, the new address added, the old one removed), while a new VRID re-creates
// the instance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPair } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const conf = (vip: string, vrid = '4') =>
  `vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id ${vrid}\n    version 3\n    advert_int 0.1\n    virtual_ipaddress {\n        ${vip}\n    }\n}\n`;

const masters = (log: string) => log.match(/Entering MASTER STATE/g)?.length ?? 0;

test('reload: a bad config is rejected, a VIP change is applied in place, a VRID change re-creates', { ...needs('root', 'ip'), timeout: 60_000 }, async () => {
  await withPair(['r', 'peer'], async ({ lab, dir, a: r }) => {
    const file = join(dir, 'vigil.conf');
    writeFileSync(file, conf('192.0.2.100/24'));
    const vg = startVigil(lab, r, file);
    await vg.waitFor(/Entering MASTER STATE/);
    await new Promise((res) => setTimeout(res, 300));
    assert.ok(addressesOf(lab, r, 'eth0').includes('192.0.2.100/24'));

    // SIGHUP with an invalid file (the watcher may see the write too: both are rejected)
    writeFileSync(file, conf('192.0.2.101/24', '300'));
    vg.child.kill('SIGHUP');
    await vg.waitFor(/reload rejected; the running configuration stays/);
    assert.match(vg.log(), new RegExp(`${file}:3:5: vrrp_instance\\.VI_1\\.virtual_router_id: must be 1\\.\\.255`));
    await new Promise((res) => setTimeout(res, 500));
    assert.ok(addressesOf(lab, r, 'eth0').includes('192.0.2.100/24'), 'still Master with the old VIP');
    assert.equal(masters(vg.log()), 1, 'no transition on a rejected reload');

    // an edit, no signal: the watcher reloads; the VIP moves in place, without a transition
    writeFileSync(file, conf('192.0.2.101/24'));
    await vg.waitFor(/config file changed: reloaded; unchanged: -; updated: VI_1;/);
    await new Promise((res) => setTimeout(res, 300));
    const addrs = addressesOf(lab, r, 'eth0');
    assert.ok(addrs.includes('192.0.2.101/24') && !addrs.includes('192.0.2.100/24'), addrs.join(' '));
    assert.equal(masters(vg.log()), 1, 'the VIP change did not cost a transition');

    // a new VRID is a different virtual router: re-created
    writeFileSync(file, conf('192.0.2.101/24', '5'));
    vg.child.kill('SIGHUP');
    await vg.waitFor(/reloaded; unchanged: -; updated: -; re-created: VI_1;/);
    await vg.waitFor(/Entering MASTER STATE[\s\S]*Entering MASTER STATE/);
    vg.child.kill('SIGTERM');
    assert.equal(await exited(vg.child), 0);
  });
});
