// track-interface's config: which instance tracks which interface, with which weight. The
// derivation applies keepalived's rules so the worker only follows links: the instance's own
// interface is tracked unweighted unless dont_track_primary, sync group track_interface reaches
// every member, and sync group members and address owners cannot float their priority.

import { z } from 'zod';
import type { Config } from '../../src/config/schema.ts';

export const trackSchema = z.object({
  instance: z.string().min(1),
  interface: z.string().min(1).max(15),
  /** 0: the link down (up, with `reverse`) puts the instance in FAULT. Positive: added while
   * the link is up; negative: added while it is down; `reverse` negates the adjustment. */
  weight: z.number().int().min(-254).max(254).default(0),
  reverse: z.boolean().default(false),
});

export const schema = z.object({
  tracks: z.array(trackSchema).default([]),
});

export type TrackInterfaceConfig = z.infer<typeof schema>;
type Track = z.input<typeof trackSchema>;

export function fromVigilConfig(config: Config): z.input<typeof schema> | undefined {
  const groupOf = new Map<string, string>();
  for (const [g, sg] of Object.entries(config.vrrp_sync_group)) for (const m of sg.group) groupOf.set(m, g);
  const byKey = new Map<string, Track>();
  /** keepalived's add_vrrp_to_interface: a second entry for the same instance and interface
   * replaces the first, unless the first is unweighted (a FAULT tracker stays one). */
  const add = (t: Track) => {
    const key = `${t.instance}\0${t.interface}`;
    const existing = byKey.get(key);
    if (existing && (existing.weight ?? 0) === 0) return;
    byKey.set(key, t);
  };

  for (const [instance, inst] of Object.entries(config.vrrp_instance)) {
    const noWeights = groupOf.has(instance) || inst.priority === 255;
    for (const t of inst.track_interface) {
      // keepalived: "Ignoring track_interface X since own interface" (its own interface is
      // tracked by dont_track_primary's rule alone)
      if (t.name === inst.interface) continue;
      let weight = t.weight ?? 0;
      if (noWeights && weight !== 0) {
        // keepalived: a sync group member's weight is cleared (FAULT tracking); an address
        // owner's weighted interface is not tracked at all
        if (inst.priority === 255) continue;
        weight = 0;
      }
      add({ instance, interface: t.name, weight, reverse: t.reverse ?? false });
    }
    if (!inst.dont_track_primary) add({ instance, interface: inst.interface, weight: 0, reverse: false });
  }

  for (const sg of Object.values(config.vrrp_sync_group)) {
    const hasOwner = sg.group.some((m) => config.vrrp_instance[m]?.priority === 255);
    for (const t of sg.track_interface) {
      const weight = hasOwner ? 0 : (t.weight ?? 0);
      for (const instance of sg.group) if (config.vrrp_instance[instance]) add({ instance, interface: t.name, weight, reverse: t.reverse ?? false });
    }
  }

  return byKey.size > 0 ? { tracks: [...byKey.values()] } : undefined;
}

/** What one link state means for one tracking entry (keepalived's weights and reverse; the
 * plugin applies the same rule to every link change). */
export function linkEffect(up: boolean, weight: number, reverse: boolean): { fault: boolean; adjust: number } {
  const m = reverse ? -1 : 1;
  if (weight === 0) return { fault: up === reverse, adjust: 0 };
  if (weight > 0) return { fault: false, adjust: up ? weight * m : 0 };
  return { fault: false, adjust: up ? 0 : weight * m };
}

/** The daemon gives initialReports the links' states (up: IFF_UP and IFF_RUNNING, as the
 * plugin counts it; a missing link is down). */
export const initialReportsNeed = ['links'] as const;

/** What the plugin reports first for each tracking entry, from the links as they are now: a
 * tracked interface that is down holds its FAULT (or weight) from the first moment, as in
 * keepalived, which reads the links before its instances start. The daemon presets these in the
 * engine before starting the instances, and the plugin confirms them when it is up
 * (src/daemon/tracker-presets.ts). */
export function initialReports(derived: unknown, env: { links: ReadonlyMap<string, boolean> }): Array<{ instance: string; source: string; fault: boolean; adjust: number }> {
  const out: Array<{ instance: string; source: string; fault: boolean; adjust: number }> = [];
  for (const t of schema.parse(derived).tracks) {
    const e = linkEffect(env.links.get(t.interface) === true, t.weight, t.reverse);
    if (e.fault || e.adjust !== 0) out.push({ instance: t.instance, source: `track_interface:${t.interface}`, ...e });
  }
  return out;
}
