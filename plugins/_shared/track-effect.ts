// What a tracked check's status means for one instance tracking it, as keepalived counts it
// (vrrp_script, track_process alike): a priority adjustment, or a fault for weight 0. Shared by
// the trackers whose checks are healthy / failed / not yet known.

/** A check's health: `init` before its first result. */
export type Status = 'init' | 'ok' | 'fail';

/** How one instance tracks the check (its weight and `reverse`). */
export interface Tracker {
  weight: number;
  reverse: boolean;
}

/** What a check in `status` means for one tracking instance: a priority adjustment, or a fault
 * (weight 0). keepalived: a positive weight is added while healthy, a negative one while failing;
 * reverse flips the sign; `weight 0 reverse` faults while the check is healthy. Nothing before
 * the first result. */
export function effect(status: Status, t: Tracker): { adjust: number; fault: boolean } {
  if (status === 'init') return { adjust: 0, fault: false };
  const ok = status === 'ok';
  if (t.weight === 0) return { adjust: 0, fault: ok === t.reverse };
  const base = ok ? Math.max(t.weight, 0) : Math.min(t.weight, 0);
  return { adjust: (t.reverse ? -base : base) || 0, fault: false };
}
