// Fault injection: the wall clock jumps an hour forward, then two hours back, under both
// daemons (libfaketime, Debian's faketime package, preloaded into each daemon only: the
// machine's clock is never touched). The engine's timers run on the monotonic clock, which
// faketime is told to leave alone, so nothing may happen: no transition, the Master keeps its
// VIP, no plugin is declared unresponsive. The daemons' own view of the wall clock is checked
// (their reported start time moves with the jump), so the test cannot pass by faketime doing
// nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertCleanStop, assertInvariants, assertOneMaster, LAB_NEEDS, sleep, status, until, withFaultLab, type FaultLab } from './fixtures/lab.ts';
import { needs } from '../lib/require.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** Starts a router with its wall clock read from `clockFile` (an offset such as +0, +1h, -1h). */
function startUnderFaketime(l: FaultLab, name: string, priority: number, clockFile: string): void {
  writeFileSync(clockFile, '+0\n');
  const env = {
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME_TIMESTAMP_FILE: clockFile,
    FAKETIME_NO_CACHE: '1',
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
  // the lab spawns with the test's environment: set it around this one spawn only
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    l.start(name, { priority, advert: 0.5 });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const transitions = (l: FaultLab, name: string) => (l.log(name).match(/Entering \w+ STATE/g) ?? []).length;

async function startedAt(l: FaultLab, name: string): Promise<number> {
  const s = await status(l.router(name));
  return Date.parse(s?.daemon.startedAt ?? '');
}

test('faults: wall clock jumps (+1 h, then -2 h) change nothing', { ...needs(...LAB_NEEDS, LIBFAKETIME), timeout: 120_000 }, async () => {
  await withFaultLab('fc', 2, async (l) => {
    const clocks = { r1: join(l.dir, 'clock-r1'), r2: join(l.dir, 'clock-r2') };
    startUnderFaketime(l, 'r1', 200, clocks.r1);
    await l.router('r1').d?.waitFor(/\(VI_1\) Entering MASTER STATE/);
    startUnderFaketime(l, 'r2', 100, clocks.r2);
    await l.router('r2').d?.waitFor(/\(VI_1\) Entering BACKUP STATE/);
    await assertOneMaster(l, 20_000, 'r1');
    const before = { r1: transitions(l, 'r1'), r2: transitions(l, 'r2') };
    const base = await startedAt(l, 'r1');

    for (const [offset, hours] of [
      ['+1h', 1],
      ['-1h', -1],
      ['+0', 0],
    ] as const) {
      writeFileSync(clocks.r1, `${offset}\n`);
      writeFileSync(clocks.r2, `${offset}\n`);
      // the daemon itself sees the jump (its start time, computed from the wall clock, moves)
      await until(`r1 sees the wall clock at ${offset}`, 10_000, async () => Math.abs((await startedAt(l, 'r1')) - base - hours * 3_600_000) < 60_000);
      // several advert intervals and Master_Down_Intervals on the far side of the jump
      await sleep(3000);
      assert.deepEqual({ r1: transitions(l, 'r1'), r2: transitions(l, 'r2') }, before, `no transition after the jump to ${offset}:\n${l.logs()}`);
    }
    console.log('  wall clock +1 h, -2 h, +1 h under both daemons: no transition, the Master kept its VIP');
    assert.doesNotMatch(l.logs(), /unresponsive/, 'no plugin declared stuck by a wall clock step');
    await assertInvariants(l, 'r1');
    await assertCleanStop(l);
  });
});
