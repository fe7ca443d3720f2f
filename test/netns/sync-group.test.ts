// vrrp_sync_group on real interfaces: two nodes, each with VI_1 and VI_2 in sync group G1.
// Node A (priority 200) holds both. A track_file fault on A's VI_1 alone takes its whole group
// to FAULT, so B takes both VIPs (not one: split traffic is what sync groups prevent); when
// the fault clears, A's group returns to Backup, preempts, and holds both again. The group's
// notify script sees keepalived's GROUP lines in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPair, type Lab } from '../lib/netns.ts';
import { addressesOf, exited, startVigil } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

function config(priority: number, dir: string, node: string): string {
  return `vrrp_track_file:
  down:
    file: ${join(dir, `down-${node}`)}
    weight: 0
vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 91
    priority: ${priority}
    advert_int: 0.5
    version: 3
    virtual_ipaddress:
      - address: 192.0.2.101/24
    track_file:
      - name: down
  VI_2:
    interface: eth0
    virtual_router_id: 92
    priority: ${priority}
    advert_int: 0.5
    version: 3
    virtual_ipaddress:
      - address: 192.0.2.102/24
vrrp_sync_group:
  G1:
    group: [VI_1, VI_2]
    notify: ${join(dir, 'notify.sh')} ${join(dir, `group-${node}.log`)}
`;
}

async function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const vips = (lab: Lab, ns: string) => ['192.0.2.101/24', '192.0.2.102/24'].filter((v) => addressesOf(lab, ns, 'eth0').includes(v));
const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : []);

test('a sync group moves together: a fault of one member takes both VIPs to the other node and back', { ...needs('root', 'ip'), timeout: 90_000 }, async () => {
  await withPair(['a', 'b'], async ({ lab, dir, a, b }) => {
    writeFileSync(join(dir, 'notify.sh'), '#!/bin/sh\nlog=$1; shift\necho "$*" >> "$log"\n');
    chmodSync(join(dir, 'notify.sh'), 0o755);
    writeFileSync(join(dir, 'down-a'), '0\n');
    writeFileSync(join(dir, 'down-b'), '0\n');
    writeFileSync(join(dir, 'a.yaml'), config(200, dir, 'a'));
    writeFileSync(join(dir, 'b.yaml'), config(100, dir, 'b'));
    const va = startVigil(lab, a, join(dir, 'a.yaml'));
    await va.waitFor(/\(VI_1\) Entering MASTER STATE[\s\S]*\(VI_2\) Entering MASTER STATE|\(VI_2\) Entering MASTER STATE[\s\S]*\(VI_1\) Entering MASTER STATE/);
    const vb = startVigil(lab, b, join(dir, 'b.yaml'));
    await vb.waitFor(/\(VI_2\) Entering BACKUP STATE/);
    await until('A holds both VIPs', () => vips(lab, a).length === 2 && vips(lab, b).length === 0);

    // a fault on VI_1 only: the group goes to FAULT on A, B takes both
    writeFileSync(join(dir, 'down-a'), '1\n');
    await va.waitFor(/\(VI_1\) Entering FAULT STATE[\s\S]*\(VI_2\) Entering FAULT STATE|\(VI_2\) Entering FAULT STATE[\s\S]*\(VI_1\) Entering FAULT STATE/);
    assert.match(va.log(), /\(VI_2\) Entering FAULT STATE from=master reason=fault priority=200 detail=sync-group:G1/);
    await until('B holds both VIPs', () => vips(lab, b).length === 2 && vips(lab, a).length === 0);

    // the fault clears: A's group is Backup again, preempts, and holds both
    writeFileSync(join(dir, 'down-a'), '0\n');
    await until('A holds both VIPs again', () => vips(lab, a).length === 2 && vips(lab, b).length === 0);
    await vb.waitFor(/\(VI_1\) Entering BACKUP STATE from=master[\s\S]*\(VI_2\) Entering BACKUP STATE from=master|\(VI_2\) Entering BACKUP STATE from=master[\s\S]*\(VI_1\) Entering BACKUP STATE from=master/);

    // never one member Master while the other is not: no split across the nodes
    for (const log of [va.log(), vb.log()]) assert.doesNotMatch(log, /error/i);
    await until('group notify lines on A', () => lines(join(dir, 'group-a.log')).length >= 4);
    assert.deepEqual(lines(join(dir, 'group-a.log')).slice(0, 4), ['GROUP G1 BACKUP 0', 'GROUP G1 MASTER 0', 'GROUP G1 FAULT 0', 'GROUP G1 BACKUP 0']);
    await until('group notify lines on B', () => lines(join(dir, 'group-b.log')).length >= 3);
    assert.deepEqual(lines(join(dir, 'group-b.log')).slice(0, 3), ['GROUP G1 BACKUP 0', 'GROUP G1 MASTER 0', 'GROUP G1 BACKUP 0']);

    va.child.kill('SIGTERM');
    vb.child.kill('SIGTERM');
    assert.equal(await exited(va.child), 0);
    assert.equal(await exited(vb.child), 0);
  });
});
