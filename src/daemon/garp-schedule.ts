// Gratuitous ARP / unsolicited NA on keepalived's schedule: garp_master_repeat announcements at
// once, the same again after garp_master_delay, then every garp_master_refresh seconds (0 =
// never) while still Master. A reassertion against a lower-priority Master uses
// garp_lower_prio_repeat / _delay and no refresh. Each round is skipped once the instance has
// moved on (another generation, or no longer Master).

import type { Config, VrrpInstanceConfig } from '../config/schema.ts';
import { announce } from '../net/announce.ts';
import type { Logger } from './log.ts';
import type { Running } from './running.ts';

/** keepalived's announcement settings: on becoming Master, and on reasserting against a
 * lower-priority Master (`lower`). Seconds and counts. */
export interface GarpSchedule {
  delay: number;
  repeat: number;
  refresh: number;
  lowerDelay: number;
  lowerRepeat: number;
}

export function garpSchedule(inst: VrrpInstanceConfig, g: Config['global_defs']): GarpSchedule {
  const delay = inst.garp_master_delay ?? g.vrrp_garp_master_delay;
  const repeat = inst.garp_master_repeat ?? g.vrrp_garp_master_repeat;
  return {
    delay,
    repeat,
    refresh: inst.garp_master_refresh ?? g.vrrp_garp_master_refresh,
    lowerDelay: inst.garp_lower_prio_delay ?? g.vrrp_garp_lower_prio_delay ?? delay,
    lowerRepeat: inst.garp_lower_prio_repeat ?? g.vrrp_garp_lower_prio_repeat ?? repeat,
  };
}

export class Announcer {
  private readonly pending = new Set<NodeJS.Timeout>();

  constructor(private readonly log: Logger) {}

  /** Announce every virtual address of `run` on its schedule, after its queued address effects. */
  announce(run: Running, generation: number, cause?: 'lower-priority'): void {
    const lower = cause === 'lower-priority';
    const repeat = lower ? run.garp.lowerRepeat : run.garp.repeat;
    const delay = lower ? run.garp.lowerDelay : run.garp.delay;
    const round = () => {
      if (run.instance.currentGeneration !== generation || run.instance.state !== 'master') return false;
      const byDev = new Map<string, string[]>();
      for (const v of run.vips) byDev.set(v.dev, [...(byDev.get(v.dev) ?? []), v.address.split('/')[0] ?? '']);
      // One call per device with the list `repeat` times over: the same packets in the same
      // order as `repeat` calls, but the interface's MAC and index are read from /sys once
      // (1,000 Masters' delayed round was 10,000 sysfs reads in one go).
      for (const [dev, addrs] of byDev) {
        const all: string[] = [];
        for (let i = 0; i < repeat; i++) all.push(...addrs);
        announce(dev, all).catch((e: Error) => this.log.warn(`(${run.name}) ${e.message}`));
      }
      return true;
    };
    if (repeat === 0) return;
    // after the addresses are in place
    run.effects = run.effects.then(() => {
      if (!round()) return;
      if (delay > 0) this.later(delay, () => round());
      if (!lower && run.garp.refresh > 0) {
        const refresh = () => {
          if (round()) this.later(run.garp.refresh, refresh);
        };
        this.later(run.garp.refresh, refresh);
      }
    });
  }

  /** Cancels every round still to come (clean stop). */
  stop(): void {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
  }

  private later(seconds: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.pending.delete(t);
      fn();
    }, seconds * 1000);
    this.pending.add(t);
  }
}
