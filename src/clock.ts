// The one monotonic clock of the daemon and its plugins: CLOCK_MONOTONIC (Node's hrtime on
// Linux), immune to wall clock steps (NTP, an operator's `date -s`), which must never move a
// timer, a lease or a measured latency. Use it for every duration and deadline; the wall clock
// (Date.now()) is only for what a human reads.

/** Monotonic microseconds, as an integer (the unit of the protocol timers and of events' `mono`). */
export function monoMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Monotonic milliseconds, with a fraction (for durations: `monoMs() - started`). */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
