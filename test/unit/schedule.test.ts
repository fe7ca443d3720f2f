// The engine's timer schedule (src/daemon/schedule.ts) on the real clock: order, clearing, and
// a timer started by a firing one counting from that one's deadline. Margins are generous: the
// machine may be busy; nothing here asserts how late a timer may fire.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Schedule } from '../../src/daemon/schedule.ts';

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test('timers fire in deadline order, ties in the order they were started', async () => {
  const s = new Schedule();
  const order: string[] = [];
  s.setTimer(30_000, () => order.push('c'));
  s.setTimer(10_000, () => order.push('a1'));
  s.setTimer(10_000, () => order.push('a2'));
  s.setTimer(20_000, () => order.push('b'));
  await wait(120);
  assert.deepEqual(order, ['a1', 'a2', 'b', 'c']);
  assert.equal(s.size, 0);
});

test('a cleared timer never fires, whichever position it held; clearing twice is harmless', async () => {
  const s = new Schedule();
  const fired: number[] = [];
  const handles = [5, 1, 4, 2, 3].map((k) => s.setTimer(k * 5_000, () => fired.push(k)));
  s.clearTimer(handles[1]); // the earliest
  s.clearTimer(handles[2]);
  s.clearTimer(handles[2]);
  await wait(100);
  assert.deepEqual(fired, [2, 3, 5]);
});

test('a timer started while another fires counts from its deadline, so intervals do not drift', async () => {
  const s = new Schedule();
  const deadlines: number[] = [];
  const start = s.now();
  let n = 0;
  const tick = () => {
    deadlines.push(s.now());
    if (++n < 5) s.setTimer(10_000, tick);
  };
  s.setTimer(10_000, tick);
  await wait(200);
  assert.equal(deadlines.length, 5);
  // each firing is at or after its deadline start + 10 ms * k; re-arming from the deadline
  // (not from the firing) keeps the fifth within a few ms of 50 ms unless the machine stalled
  deadlines.forEach((t, i) => assert.ok(t >= start + (i + 1) * 10_000 - 100, `firing ${i} before its deadline`));
});
