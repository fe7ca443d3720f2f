// The engine's clock and timers: every VRRP timer of every instance in one schedule (a binary
// heap ordered by deadline) behind a single Node timer, armed for the earliest deadline.
//
// Why not one setTimeout per timer: a Master re-arms its advert timer every interval, so 1,000
// instances allocated 1,000 Timeout objects (and closures) a second, and each re-arm counted
// from the moment the timer ran, so every advert's lateness (event loop turn, millisecond
// rounding) was added to the next interval's. Here a timer started while another one fires is
// counted from that one's deadline, not from the clock: an advert timer re-armed by its own
// firing keeps the interval exact, late sends do not add up. Only while the lateness stays
// small (SLIP): after a real stall the next interval counts from now, as before, so the engine
// never sends a burst of adverts to catch up.
//
// Timers due at the same time fire in one wake-up, in deadline order (ties: the order they were
// started), which is also the order the sends leave in.

import type { Scheduler } from '../vrrp/instance.ts';
import type { Micros } from '../vrrp/types.ts';
import { monoMicros } from '../clock.ts';

/** Lateness up to which a timer started by a firing one counts from its deadline (see above). */
const SLIP: Micros = 2_000;
/** A deadline this close is due now: no wake-up for less than Node's 1 ms timer granularity. */
const EARLY: Micros = 100;

interface Entry {
  at: Micros;
  seq: number;
  fire: () => void;
  /** Position in the heap; -1 once fired or cleared. */
  index: number;
}

export class Schedule implements Scheduler {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The deadline the Node timer is armed for. */
  private armedFor = Infinity;
  /** The entry whose callback is running, if any. */
  private firing: Entry | undefined;

  /** Monotonic microseconds (CLOCK_MONOTONIC). */
  now(): Micros {
    return monoMicros();
  }

  setTimer(after: Micros, fire: () => void): Entry {
    const now = this.now();
    const f = this.firing;
    const base = f && now - f.at < SLIP ? f.at : now;
    const e: Entry = { at: base + after, seq: this.seq++, fire, index: this.heap.length };
    this.heap.push(e);
    this.up(e.index);
    if (this.firing === undefined) this.arm();
    return e;
  }

  clearTimer(handle: unknown): void {
    const e = handle as Entry;
    if (e.index < 0) return;
    this.remove(e.index);
    if (this.firing === undefined) this.arm();
  }

  /** Timers pending (tests, status). */
  get size(): number {
    return this.heap.length;
  }

  private wake(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    try {
      let now = this.now();
      for (let e = this.heap[0]; e && e.at <= now + EARLY; e = this.heap[0]) {
        this.remove(0);
        this.firing = e;
        e.fire();
        this.firing = undefined;
        now = this.now();
      }
    } finally {
      this.firing = undefined;
      this.arm();
    }
  }

  /** The Node timer follows the earliest deadline, lazily: when the earliest timer is cleared
   * or pushed back (a Backup re-arms its Master_Down_Timer with every advert, and the timer
   * re-armed is nearly always the earliest: its advert is the one due next) the Node timer is
   * left to fire early and find nothing due, rather than cleared and set again per advert. It
   * is re-armed at once only for an earlier deadline, and cleared when nothing is pending. */
  private arm(): void {
    const first = this.heap[0];
    if (first && this.timer && first.at >= this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
    if (!first) return;
    this.armedFor = first.at;
    const ms = Math.max(0, (first.at - this.now()) / 1000);
    this.timer = setTimeout(() => this.wake(), ms);
  }

  // --- the heap ----------------------------------------------------------------------------

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private place(e: Entry, i: number): void {
    this.heap[i] = e;
    e.index = i;
  }

  private up(i: number): void {
    const e = this.heap[i] as Entry;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = this.heap[p] as Entry;
      if (!this.less(e, parent)) break;
      this.place(parent, i);
      i = p;
    }
    this.place(e, i);
  }

  private down(i: number): void {
    const n = this.heap.length;
    const e = this.heap[i] as Entry;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(this.heap[r] as Entry, this.heap[l] as Entry) ? r : l;
      const child = this.heap[c] as Entry;
      if (!this.less(child, e)) break;
      this.place(child, i);
      i = c;
    }
    this.place(e, i);
  }

  private remove(i: number): void {
    const e = this.heap[i] as Entry;
    const last = this.heap.pop() as Entry;
    e.index = -1;
    if (last === e) return;
    this.place(last, i);
    if (i > 0 && this.less(last, this.heap[(i - 1) >> 1] as Entry)) this.up(i);
    else this.down(i);
  }
}
