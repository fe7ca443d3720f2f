// Drop accounting (DESIGN.md rule 5): every dropped packet is counted by scope (an instance, or
// `interface:NAME` before any instance) and reason; totals since start for status and metrics,
// and one `packets.dropped` summary per scope per window on the bus, however many packets: a
// flood cannot flood the bus.

import type { EventBus } from '../bus/bus.ts';

type Counts = Record<string, number>;

export class DropCounter {
  /** Since the last summary. */
  private window = new Map<string, Counts>();
  /** Since start. */
  private readonly totals = new Map<string, Counts>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly bus: Pick<EventBus, 'publish'>,
    private readonly windowMs: number,
  ) {
    this.timer = setInterval(() => this.flush(), windowMs);
    this.timer.unref();
  }

  count(scope: string, reason: string): void {
    for (const map of [this.window, this.totals]) {
      const counts = map.get(scope) ?? {};
      counts[reason] = (counts[reason] ?? 0) + 1;
      map.set(scope, counts);
    }
  }

  /** Publishes the window's summaries and starts a new window. */
  flush(): void {
    const window = this.window;
    this.window = new Map();
    for (const [scope, counts] of window) this.bus.publish({ type: 'packets.dropped', scope, counts, windowMs: this.windowMs });
  }

  /** Every drop since start, by scope and reason (a copy). */
  snapshot(): Record<string, Counts> {
    return Object.fromEntries([...this.totals].map(([k, v]) => [k, { ...v }]));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
