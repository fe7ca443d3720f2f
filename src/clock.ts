// The one monotonic clock of the daemon and its plugins: CLOCK_MONOTONIC (Node's hrtime on
// Linux), immune to wall clock steps (NTP, an operator's `date -s`), which must never move a
// timer, a lease or a measured latency. Use it for every duration and deadline; the wall clock
// (Date.now()) is only for what a human reads.

/** Monotonic microseconds, as an integer (the unit of the protocol timers and of events' `mono`). */
export function monoMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** When this process started, on the monotonic clock (µs): performance.now() counts from it. */
export function processStartMicros(): number {
  // performance.now() first: its first call loads perf_hooks (~1 ms), which must not fall
  // between the two readings
  const sinceStart = performance.now() * 1000;
  return monoMicros() - Math.round(sinceStart);
}

/** Monotonic milliseconds, with a fraction (for durations: `monoMs() - started`). */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
