// The tracker registry: what plugins hold over instances, the only way they reach the engine.
// A priority adjustment or a fault is held per instance under `plugin:source`, kept across
// restarts of the instance (a reload, an interface coming back) and applied at its launch.
// Plain data: the engine turns its answers into state machine inputs, logs and bus events.

import { PRIORITY_OWNER } from '../vrrp/types.ts';

export interface TrackerState {
  /** Adjustments in force, by `plugin:source`. */
  adjustments: Record<string, number>;
  /** Fault sources in force, as `plugin:source`, sorted. */
  faults: string[];
  effective: number;
}

export class TrackerRegistry {
  private readonly adjustments = new Map<string, Map<string, number>>();
  private readonly faults = new Map<string, Set<string>>();

  /** Base priority plus every adjustment, kept in 1..254; an address owner is never adjusted. */
  effective(instance: string, base: number): number {
    if (base === PRIORITY_OWNER) return base;
    let sum = base;
    for (const w of this.adjustments.get(instance)?.values() ?? []) sum += w;
    return Math.min(PRIORITY_OWNER - 1, Math.max(1, sum));
  }

  /** Sets (weight 0: removes) one adjustment; false when it was already so. */
  adjust(instance: string, key: string, weight: number): boolean {
    const map = this.adjustments.get(instance) ?? new Map<string, number>();
    this.adjustments.set(instance, map);
    if ((map.get(key) ?? 0) === weight) return false;
    if (weight === 0) map.delete(key);
    else map.set(key, weight);
    return true;
  }

  /** Sets or clears one fault source; false when it was already so. */
  setFault(instance: string, key: string, active: boolean): boolean {
    const set = this.faults.get(instance) ?? new Set<string>();
    this.faults.set(instance, set);
    if (set.has(key) === active) return false;
    if (active) set.add(key);
    else set.delete(key);
    return true;
  }

  adjustmentsOf(instance: string): Record<string, number> {
    return Object.fromEntries(this.adjustments.get(instance) ?? []);
  }

  faultsOf(instance: string): string[] {
    return [...(this.faults.get(instance) ?? [])].sort();
  }

  /** What `plugin` holds, as [instance, source] pairs (to release when it goes away). */
  heldBy(plugin: string): { faults: Array<[string, string]>; adjustments: Array<[string, string]> } {
    const prefix = `${plugin}:`;
    const pick = (keys: Iterable<string>, instance: string) => [...keys].filter((k) => k.startsWith(prefix)).map((k): [string, string] => [instance, k.slice(prefix.length)]);
    return {
      faults: [...this.faults].flatMap(([instance, set]) => pick(set, instance)),
      adjustments: [...this.adjustments].flatMap(([instance, map]) => pick(map.keys(), instance)),
    };
  }

  /** The instance left the config. */
  forget(instance: string): void {
    this.adjustments.delete(instance);
    this.faults.delete(instance);
  }
}
