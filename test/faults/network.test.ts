// Fault injection on the network of a scripts/lab.sh lab (2 routers, a client, a bridge in its
// own namespace): the Master's interface down and up; 20% and 50% random loss of VRRP on the
// bridge (nftables `numgen random`); a partition of VRRP and its heal; duplicated and reordered
// adverts. Flaps are allowed while a fault lasts; after it, exactly one Master (r1, priority
// 200, preempting) holds the VIP alone, every logged transition reached the plugins in order,
// and both daemons exit 0 on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { follow } from '../lib/daemon.ts';
import { assertCleanStop, assertInvariants, assertOneMaster, fixture, LAB_NEEDS, sleep, until, withFaultLab, type FaultLab } from './fixtures/lab.ts';
import { needs } from '../lib/require.ts';

const ADVERT = 0.2; // v3, 200 ms: Master_Down_Interval ~0.6 s + skew

async function pair(l: FaultLab): Promise<void> {
  l.start('r1', { priority: 200, advert: ADVERT });
  await l.router('r1').d?.waitFor(/\(VI_1\) Entering MASTER STATE/);
  l.start('r2', { priority: 100, advert: ADVERT });
  await l.router('r2').d?.waitFor(/\(VI_1\) Entering BACKUP STATE/);
  await assertOneMaster(l, 20_000, 'r1');
}

const count = (l: FaultLab, r: string, re: RegExp) => (l.log(r).match(new RegExp(re.source, 'g')) ?? []).length;

/** VRRP on the bridge: a table of our own in the bridge namespace (deleted with it). */
function vrrpFilter(l: FaultLab, rule: string): () => void {
  l.nft('br', 'add table bridge vigilfault');
  l.nft('br', 'add chain bridge vigilfault cut { type filter hook forward priority 0 ; }');
  l.nft('br', `add rule bridge vigilfault cut ${rule}`);
  return () => l.nft('br', 'delete table bridge vigilfault');
}

test('faults: the Master\'s interface down (FAULT, the Backup serves) and up (preempts back)', { ...needs(...LAB_NEEDS), timeout: 90_000 }, async () => {
  await withFaultLab('fi', 2, async (l) => {
    await pair(l);
    const t0 = Date.now();
    l.lab.exec(l.ns('r1'), 'ip', ['link', 'set', 'eth0', 'down']);
    await l.router('r1').d?.waitFor(/\(VI_1\) Entering FAULT STATE from=master/, 10_000);
    await l.router('r2').d?.waitFor(/\(VI_1\) Entering MASTER STATE from=backup/, 10_000);
    const down = Date.now() - t0;
    await until('the VIP only on r2', 10_000, () => JSON.stringify(l.holders()) === '["r2"]', () => `${JSON.stringify(l.holders())}\n${l.logs()}`);
    console.log(`  eth0 down on the Master: r1 FAULT, r2 Master and the VIP only on r2 after ${down} ms`);
    const t1 = Date.now();
    l.lab.exec(l.ns('r1'), 'ip', ['link', 'set', 'eth0', 'up']);
    await assertOneMaster(l, 20_000, 'r1');
    console.log(`  eth0 up again: r1 Master again (preempt) after ${Date.now() - t1} ms`);
    assert.match(l.log('r1'), /Entering FAULT STATE from=master[^]*Entering BACKUP STATE from=fault[^]*Entering MASTER STATE from=backup reason=preempted/);
    await assertInvariants(l, 'r1');
    await assertCleanStop(l);
  });
});

test('faults: 20% and 50% random loss of VRRP, then a partition and its heal', { ...needs(...LAB_NEEDS), timeout: 120_000 }, async () => {
  await withFaultLab('fl', 2, async (l) => {
    await pair(l);
    for (const pct of [20, 50]) {
      const before = count(l, 'r2', /Entering MASTER STATE/);
      const lift = vrrpFilter(l, `ip protocol 112 numgen random mod 100 < ${pct} drop`);
      try {
        await sleep(8000);
      } finally {
        lift();
      }
      const t = Date.now();
      await assertOneMaster(l, 20_000, 'r1');
      console.log(`  ${pct}% VRRP loss for 8 s (advert_int ${ADVERT * 1000} ms): r2 took over ${count(l, 'r2', /Entering MASTER STATE/) - before} time(s); one Master ${Date.now() - t} ms after the loss stopped`);
      await assertInvariants(l, 'r1');
    }

    const lift = vrrpFilter(l, 'ip protocol 112 drop');
    try {
      await l.router('r2').d?.waitFor(/Entering MASTER STATE[^]*$/, 10_000);
      await until('both Masters while partitioned', 10_000, () => l.holders().length === 2);
      await sleep(2000);
    } finally {
      lift();
    }
    const healAt = Date.now();
    await assertOneMaster(l, 20_000, 'r1');
    console.log(`  partition healed: one Master ${Date.now() - healAt} ms after the heal`);
    await assertInvariants(l, 'r1');
    await assertCleanStop(l);
  });
});

test('faults: duplicated and reordered adverts', { ...needs(...LAB_NEEDS, 'tc'), timeout: 90_000 }, async () => {
  await withFaultLab('fd', 2, async (l) => {
    await pair(l);
    // netem if the kernel has it (on r2's eth0: what it sends is duplicated and reordered),
    // else a raw-socket replayer on the LAN
    const netem = spawnSync('ip', ['netns', 'exec', l.ns('r2'), 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'duplicate', '50%', 'reorder', '25%', 'delay', '10ms'], { encoding: 'utf8' });
    let replayer: ReturnType<typeof follow> | undefined;
    if (netem.status === 0) {
      console.log('  netem: duplicate 50% reorder 25% delay 10ms on r2 eth0');
      // and r1's adverts on the bridge port towards r2
      execFileSync('ip', ['netns', 'exec', l.ns('br'), 'tc', 'qdisc', 'add', 'dev', 'p-r2', 'root', 'netem', 'duplicate', '50%', 'reorder', '25%', 'delay', '10ms']);
    } else {
      console.log(`  netem is not available in this kernel (tc: ${netem.stderr.trim()}); duplicating 50% of the adverts (a quarter of the copies held back 250 ms, past the next advert) with a raw-socket replayer in the client namespace instead`);
      replayer = follow(l.lab.spawn(l.ns('client'), process.execPath, ['--import', 'tsx', fixture('replayer.ts'), 'eth0', '50', '250', '192.0.2.1', '192.0.2.2']));
      await replayer.waitFor(/ready/);
    }
    const transitions = () => count(l, 'r1', /Entering \w+ STATE/) + count(l, 'r2', /Entering \w+ STATE/);
    const steady = transitions();
    await sleep(5000);
    assert.equal(transitions(), steady, `no transition from duplicated / reordered adverts in steady state\n${l.logs()}`);
    // a handover and back while the copies keep coming: r1 lowers itself below r2, then returns
    await l.reconfigure('r1', { priority: 50, advert: ADVERT });
    await assertOneMaster(l, 20_000, 'r2');
    await l.reconfigure('r1', { priority: 200, advert: ADVERT });
    await assertOneMaster(l, 20_000, 'r1');
    await sleep(3000);
    await assertOneMaster(l, 20_000, 'r1');
    if (replayer) {
      const m = /heard (\d+) replayed (\d+) delayed (\d+)\s*$/.exec(replayer.log());
      console.log(`  replayer: heard ${m?.[1]} adverts, sent ${m?.[2]} again, ${m?.[3]} of them late; transitions during the run: ${transitions() - steady} (2 handovers need 4)`);
      assert.ok(Number(m?.[2]) > 10, `the replayer did duplicate adverts:\n${replayer.log()}`);
    }
    await assertInvariants(l, 'r1');
    await assertCleanStop(l);
  });
});
