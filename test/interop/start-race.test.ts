// A mixed pair started together: a vigil node at priority 200 and a keepalived node at 150,
// both `state BACKUP` and `nopreempt`, one VRID, as in a public keepalived.conf, both rebooted
// at the same moment. Whoever's Master_Down timer fires first becomes Master, and with
// nopreempt keeps it; with keepalived on both nodes they enter BACKUP within milliseconds of
// each other, and the higher priority's shorter Skew_Time wins. So vigil must enter BACKUP about
// as fast as keepalived does (not after its plugins), or the lower priority ends as Master
// (issue 17). Three rounds, the start order alternating; no timing asserted, only the outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopChild, withPair } from '../lib/netns.ts';
import { addressesOf, startKeepalived, startVigil, type DaemonHandle } from '../lib/daemon.ts';
import { needs } from '../lib/require.ts';

const VIP = '192.0.2.100/24';

function conf(priority: number): string {
  return `vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority ${priority}
    nopreempt
    advert_int 1
    virtual_ipaddress {
        ${VIP}
    }
}
`;
}

/** The last state the daemon logged for VI_1 ("MASTER", "BACKUP", "FAULT"), or "none". */
function lastState(d: DaemonHandle): string {
  return [...d.log().matchAll(/\(VI_1\) Entering (MASTER|BACKUP|FAULT) STATE/g)].at(-1)?.[1] ?? 'none';
}

test('a vigil node (200) and a keepalived node (150), both nopreempt, started together: vigil ends Master', { ...needs('root', 'ip', 'keepalived'), timeout: 120_000 }, async () => {
  await withPair(['vg', 'ka'], async ({ lab, dir, a: vgNs, b: kaNs }) => {
    writeFileSync(join(dir, 'vigil.conf'), conf(200));
    writeFileSync(join(dir, 'keepalived.conf'), conf(150));
    const outcomes: string[] = [];
    for (let round = 1; round <= 3; round++) {
      // back to back in one tick; which one is spawned first alternates
      const start = {
        vg: () => startVigil(lab, vgNs, join(dir, 'vigil.conf'), ['-p', join(dir, 'vigil.pid')]),
        ka: () => startKeepalived(lab, kaNs, join(dir, 'keepalived.conf'), dir),
      };
      let vg: DaemonHandle;
      let ka: DaemonHandle;
      if (round % 2) {
        vg = start.vg();
        ka = start.ka();
      } else {
        ka = start.ka();
        vg = start.vg();
      }
      try {
        // someone becomes Master (alone, either would after Master_Down_Interval, ~3.4 s)...
        await Promise.any([vg.waitFor(/Entering MASTER STATE/, 20_000), ka.waitFor(/Entering MASTER STATE/, 20_000)]);
        // ...and the other has heard it: past the Backup's own Master_Down_Interval
        await new Promise((r) => setTimeout(r, 5000));
        const vgState = lastState(vg);
        const kaState = lastState(ka);
        outcomes.push(`round ${round}: vigil ${vgState}, keepalived ${kaState}`);
        const detail = `${outcomes.join('; ')}\n--- vigil log:\n${vg.log().slice(-1500)}\n--- keepalived log:\n${ka.log().slice(-1500)}`;
        assert.equal(vgState, 'MASTER', `the higher priority (vigil, 200) must end Master: ${detail}`);
        assert.equal(kaState, 'BACKUP', `keepalived (150) must end Backup: ${detail}`);
        assert.ok(addressesOf(lab, vgNs, 'eth0').includes(VIP), 'the VIP on the vigil node');
        assert.ok(!addressesOf(lab, kaNs, 'eth0').includes(VIP), 'not on the keepalived node');
      } finally {
        // both down before the next round (a stopping Master sends priority 0: the other takes
        // over, which is why both stop here and start together again)
        await Promise.all([stopChild(vg.child), stopChild(ka.child)]);
      }
    }
  });
});
