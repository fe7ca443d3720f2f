// keepalived's checker timeline (LVS.md section 6), pure: given each attempt's result, whether the
// checker is up, and when to try next. No timers, no sockets: the balancer drives it.
//
// - Without alpha a checker starts up (its real server goes into the pool at once), and the
//   very first failed attempt takes it down with no retries.
// - With alpha it starts down; one pass brings it up.
// - While up, a failed attempt is retried after delay_before_retry; only retry + 1 consecutive
//   failures take it down. A pass in between resets the count.
// - While down, one pass brings it up (no rise count). TCP and SMTP checkers still space their
//   failed attempts by delay_before_retry up to `retry` times, then wait delay_loop; the others
//   (UDP, PING, DNS, MISC) simply try again after delay_loop, HTTP after the longer of
//   delay_loop and delay_before_retry (check_http.c).
// - After a pass, the next attempt comes delay_loop later (counted from the end of the attempt).

export interface CheckTiming {
  retry: number;
  delayBeforeRetryMs: number;
  delayLoopMs: number;
  alpha: boolean;
  /** How a checker that is down tries again: `retry` (the default) as while up,
   * `loop` after delay_loop, `longer` after the longer of delay_loop and delay_before_retry. */
  whileDown?: 'retry' | 'loop' | 'longer';
}

export interface Verdict {
  /** The checker's state changed with this attempt. */
  changed: boolean;
  up: boolean;
  /** Wait this long before the next attempt. */
  nextInMs: number;
}

export class CheckerState {
  up: boolean;
  private fails = 0;
  private attempted = false;

  constructor(private readonly t: CheckTiming) {
    this.up = !t.alpha;
  }

  result(ok: boolean): Verdict {
    const was = this.up;
    const first = !this.attempted;
    this.attempted = true;
    if (ok) {
      this.fails = 0;
      this.up = true;
      return { changed: !was, up: true, nextInMs: this.t.delayLoopMs };
    }
    if (first && was && !this.t.alpha) {
      this.up = false;
      return { changed: true, up: false, nextInMs: this.t.delayLoopMs };
    }
    if (!was && this.t.whileDown === 'loop') return { changed: false, up: false, nextInMs: this.t.delayLoopMs };
    if (!was && this.t.whileDown === 'longer') return { changed: false, up: false, nextInMs: Math.max(this.t.delayLoopMs, this.t.delayBeforeRetryMs) };
    this.fails++;
    if (this.fails <= this.t.retry) return { changed: false, up: this.up, nextInMs: this.t.delayBeforeRetryMs };
    this.fails = 0;
    this.up = false;
    return { changed: was, up: false, nextInMs: this.t.delayLoopMs };
  }

  /** keepalived's worst case from an outage to removal: delay_loop + (retry+1) x timeout +
   * retry x delay_before_retry. */
  static removalBudgetMs(t: CheckTiming & { timeoutMs: number }): number {
    return t.delayLoopMs + (t.retry + 1) * t.timeoutMs + t.retry * t.delayBeforeRetryMs;
  }
}
