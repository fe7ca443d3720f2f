// Fault injection: the Master's engine SIGKILLed (the supervisor restarts it; it preempts back)
// and frozen with SIGSTOP for longer than Master_Down_Interval, then resumed with SIGCONT.
// While frozen the Backup takes over (two Masters are then unavoidable: the frozen one cannot
// know); after SIGCONT exactly one Master must remain within about one advert interval: the
// higher-priority one, whichever of the two was frozen. The figure (SIGCONT to one Master) is
// printed; the bound is one advert interval plus a second of slack for a loaded 2-core machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alive, assertCleanStop, assertInvariants, assertOneMaster, LAB_NEEDS, sleep, until, withFaultLab, type FaultLab } from './fixtures/lab.ts';
import { needs } from '../lib/require.ts';

const ADVERT_MS = 1000;

/** Freezes `frozen`'s engine until `other` has taken over, resumes it, and returns the ms from
 * SIGCONT until `loser` logged its step-down from Master. */
async function freezeAndResume(l: FaultLab, frozen: string, other: string, loser: string): Promise<number> {
  const stepDowns = () => (l.log(loser).match(/Entering BACKUP STATE from=master/g) ?? []).length;
  const stepDownsBefore = stepDowns();
  const pid = await l.enginePid(frozen);
  const takeovers = () => (l.log(other).match(/Entering MASTER STATE from=backup reason=master-down-timer/g) ?? []).length;
  const before = takeovers();
  process.kill(pid, 'SIGSTOP');
  try {
    await until(`${other} takes over from the frozen ${frozen}`, 10_000, () => takeovers() > before, () => l.logs());
    // both Masters now; stay frozen a little longer, so the resumed one has stale timers and a
    // queue of the other's adverts
    await sleep(1500);
    assert.deepEqual(l.holders().sort(), [frozen, other].sort(), 'while frozen both hold the VIP (the frozen one cannot know)');
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const resumedAt = Date.now();
  const stepDown = () => stepDowns() > stepDownsBefore;
  await until(`${loser} steps down after SIGCONT`, 10_000, stepDown, () => l.logs());
  const ms = Date.now() - resumedAt;
  assert.ok(alive(pid), 'the resumed engine is the same process');
  return ms;
}

test('faults: SIGSTOP/SIGCONT of the Master (higher and lower priority) and SIGKILL of its engine', { ...needs(...LAB_NEEDS), timeout: 150_000 }, async () => {
  await withFaultLab('fk', 2, async (l) => {
    // r1 200 is the rightful Master
    l.start('r1', { priority: 200 });
    await l.router('r1').d?.waitFor(/\(VI_1\) Entering MASTER STATE/);
    l.start('r2', { priority: 100, nopreempt: true }); // so that a lower-priority r1 can stay Master (case 3)
    await l.router('r2').d?.waitFor(/\(VI_1\) Entering BACKUP STATE/);
    await assertOneMaster(l, 20_000, 'r1');

    // 1. the higher-priority Master frozen: on resume it reclaims, r2 steps down
    const higher = await freezeAndResume(l, 'r1', 'r2', 'r2');
    console.log(`  SIGSTOP of the higher-priority Master (advert_int ${ADVERT_MS} ms): one Master ${higher} ms after SIGCONT`);
    assert.ok(higher < ADVERT_MS + 1000, `one Master within about one advert interval of SIGCONT (${higher} ms)`);
    await assertInvariants(l, 'r1');

    // 2. SIGKILL of the Master's engine: r2 takes over, the supervisor restarts r1's engine,
    //    which removes the stale VIP and preempts back
    const oldPid = await l.enginePid('r1');
    process.kill(oldPid, 'SIGKILL');
    await l.router('r1').d?.waitFor(/engine child \d+ died unexpectedly \(signal SIGKILL\)/);
    await until('a new engine pid for r1', 15_000, async () => (await l.enginePid('r1')) !== oldPid);
    await l.router('r2').d?.waitFor(/Entering MASTER STATE from=backup[^]*Entering BACKUP STATE from=master[^]*Entering MASTER STATE from=backup[^]*Entering BACKUP STATE from=master/, 20_000);
    await assertInvariants(l, 'r1');
    // the killed engine's own log lines are under its old pid: its transitions were delivered
    // up to the kill; the restarted one's from seq 1 (checked per pid by assertNoLostEvents)

    // 3. the frozen Master has the lower priority: r1 reloads itself down to 50 (in place, it
    //    stays Master: r2 is nopreempt), is frozen, r2 takes over; on resume r1 must step down
    await l.reconfigure('r1', { priority: 50 });
    await until('r1 at priority 50', 10_000, () => /\(VI_1\) priority 200 -> 50|reloaded; unchanged: -; updated: VI_1/.test(l.log('r1')), () => l.log('r1'));
    await assertOneMaster(l, 10_000, 'r1');
    const lower = await freezeAndResume(l, 'r1', 'r2', 'r1');
    console.log(`  SIGSTOP of the lower-priority Master: one Master ${lower} ms after SIGCONT`);
    assert.ok(lower < ADVERT_MS + 1000, `one Master within about one advert interval of SIGCONT (${lower} ms)`);
    await assertInvariants(l, 'r2');
    assert.doesNotMatch(l.logs(), /plugin \S+: failed/, 'no plugin blamed for the freeze (its host was frozen with it)');
    await assertCleanStop(l, { r1: 1 });
  });
});
